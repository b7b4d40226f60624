"""openkvs: a self-hostable server for the Apify API v2 key-value-store endpoints."""

__version__ = "0.1.0"
