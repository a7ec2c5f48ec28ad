"""Provider API clients: Meta Graph, Twilio, SMTP and Asterisk ARI."""
