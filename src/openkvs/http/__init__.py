"""The HTTP layer: parse, authorise, shape the Apify envelope."""
