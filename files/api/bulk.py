"""Placeholder: filled in by the bulk front door."""

urls = []
