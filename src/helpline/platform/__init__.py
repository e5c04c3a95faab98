"""Interfaces to the outside world (database, jobs, pub/sub, cache, search, mail, files), each with an
embedded implementation and a distributed one that pass the same contract tests."""
