"""Operations: what an operator reads about the running gateway, for ``xgw status``,
``xgw trace``, ``/metrics`` and ``/readyz`` (and the admin API to come), all from the read model
(:mod:`gateway.store.readmodel`) and, on RabbitMQ, the broker's own counts."""
