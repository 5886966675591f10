"""``python -m gateway.delivery``: print the RabbitMQ definitions of the topology."""

from gateway.delivery.topology import main

main()
