"""JOSE for the gateway: JWK key pairs, JWS (SETs, access tokens), compact JWE checks and decryption.

The only package that imports ``cryptography``.
"""
