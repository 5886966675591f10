"""Fault-injection tests: the gateway as separate processes on real RabbitMQ and PostgreSQL."""
