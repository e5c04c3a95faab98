"""Business domains. Each has the same files: models, schemas, service, queries, api, jobs, events."""
