"""Database foundations: the declarative base, portable column types and Alembic migrations."""
