"""The intake stage: the sender-facing half of a submission's life, up to ``submitted`` (never
decrypts): create, upload attachments, submit, read the event log."""
