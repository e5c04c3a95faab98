"""SLA engine: clocks, policies, alerts and recomputes (docs/sla.md)."""
