"""Tickets, their conversation (messages and attachments), custom fields, links, and the event history."""
