"""Workspaces, users, roles, groups, sessions, two-factor authentication and API tokens."""
