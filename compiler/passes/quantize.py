"""Quantisation passes (filled in below)."""
