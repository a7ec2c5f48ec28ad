"""Pure rules of the channels service: the channel model, signatures, and provider payload normalization."""
