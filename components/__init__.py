"""Paved Road's Pulumi components, one layer each (see DESIGN.md)."""
