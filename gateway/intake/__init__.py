"""Intake: the sender-facing half of a submission's life, up to ``submitted`` (never decrypts)."""
