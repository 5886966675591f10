"""The event log: signed Security Event Tokens (RFC 8417) per case, as FIT-Connect defines them."""
