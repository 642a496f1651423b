"""${{ values.name }}, a batch-job of the ${{ values.team }} team (README.md)."""
