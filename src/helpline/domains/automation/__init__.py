"""Automation: canned responses (macros) now; business hours, SLAs, triggers and routing later."""
