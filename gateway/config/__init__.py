"""Declarative configuration: tenants, destinations, services and sender clients (config as code)."""
