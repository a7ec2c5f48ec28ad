"""Gateway: users, authentication, the public REST API, the live WebSocket and the console."""
