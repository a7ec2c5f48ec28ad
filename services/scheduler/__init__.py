"""The scheduler: durable timers that fire once, on time, with several replicas running."""
