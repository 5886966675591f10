"""HTTP: the FIT-Connect Submission API (v1 and v2 paths), OAuth2 tokens, JWKS, problem+json."""
