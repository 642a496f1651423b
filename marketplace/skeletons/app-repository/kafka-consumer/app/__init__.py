"""${{ values.name }}, a kafka-consumer of the ${{ values.team }} team (README.md)."""
