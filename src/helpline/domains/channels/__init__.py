"""Channels: how conversations arrive and leave (email today)."""
