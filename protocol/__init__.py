"""Wire protocol: pydantic models, identities, error codes, and the reference work server."""
