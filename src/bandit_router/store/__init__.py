"""Persistence: the only package that talks SQL (SQLAlchemy 2, SQLite or PostgreSQL)."""
