"""The embedded backend: SQLite (WAL) for metadata and small bodies, files for large bodies."""
