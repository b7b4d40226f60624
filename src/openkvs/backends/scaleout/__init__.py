"""The scale-out backend: PostgreSQL for metadata and small bodies, S3 for large bodies."""
