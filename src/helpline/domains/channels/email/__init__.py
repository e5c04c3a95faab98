"""The email channel: mailboxes, inbound mail (SMTP receiver, IMAP fetcher, raw-MIME webhook),
threading, loop and bounce safety, and the outbox. See docs/email.md and ADR 0008."""
