"""Placeholder: filled in by the megavault front door."""

urls = []
