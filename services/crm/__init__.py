"""CRM service: contacts, accounts, conversations, cases, tickets, calls, callbacks, exports and bulk processes."""
