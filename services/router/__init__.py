"""The router: live conversations, campaign queues, agent presence and capacity, atomic assignment."""
