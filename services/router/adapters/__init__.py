"""Router adapters: Redis live state (Lua decisions) and NATS event publishing."""
