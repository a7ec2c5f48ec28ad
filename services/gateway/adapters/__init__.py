"""Gateway adapters: all I/O (PostgreSQL, Redis, NATS, the other services' HTTP APIs)."""
