"""One adapter per external system. Each takes an already-built client or session, translates
vendor errors into cs_sync.errors at one boundary, and retries only what is transient."""
