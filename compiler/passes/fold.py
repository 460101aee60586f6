"""Folding passes (filled in below)."""
