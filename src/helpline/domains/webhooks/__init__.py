"""Outbound webhooks: targets, the durable outbox fed by ticket events, signed delivery (docs/webhooks.md)."""
