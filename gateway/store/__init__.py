"""Persistence: the database (source of truth for every submission) and the ciphertext blob store."""
