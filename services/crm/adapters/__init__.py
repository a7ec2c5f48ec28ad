"""CRM adapters: PostgreSQL repositories, blob store, NATS publisher, campaign snapshots, spreadsheets."""
