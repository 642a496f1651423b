"""${{ values.name }}, an api-service of the ${{ values.team }} team (README.md)."""
