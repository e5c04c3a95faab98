"""HTTP pieces shared by every domain: errors, dependencies, idempotency, body limits."""
