"""Moving data in and out: `openkvs import`, `openkvs export`, `openkvs copy` (any server that
speaks the Apify API v2 key-value-store endpoints, and Crawlee's local storage folders)."""
