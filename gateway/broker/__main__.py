"""``python -m gateway.broker``: print the RabbitMQ definitions of the topology."""

from gateway.broker.topology import main

main()
