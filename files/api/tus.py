"""Placeholder: filled in by the tus front door."""

urls = []
