"""Placeholder: commands are added by their issue."""

COMMANDS: list = []
