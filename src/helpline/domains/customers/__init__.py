"""Contacts (with several identities), organizations (with email domains), and merging duplicates."""
