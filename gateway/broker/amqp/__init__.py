"""RabbitMQ broker on aio-pika. This package is the only home of aio_pika and aiormq.

aio-pika's defaults are unsafe (SECURITY-CASES §0.3): every publish here is persistent and
``mandatory``, on a confirm channel with ``on_return_raises=True``, with a timeout. A nack, a
return (unroutable), a timeout or a lost connection becomes ``PublishError``.

Connections are plain, not ``connect_robust``: robust reconnect has left consumers unrestored
after broker restarts (aio-pika #231, #626, #334) and would take acks with delivery tags of a dead
channel. Instead a publish reconnects on the next call, and each consumer has a supervisor that
subscribes again (connection, channel, qos, consume) with backoff when its channel closes. The
broker redelivers what was in flight; late acks on the dead channel fail and are only logged.
Heartbeats (URL ``heartbeat``, default 15 s) detect dead peers.

Modules: ``channel`` (publishing on one confirm channel, error translation), ``broker``
(connection, topology, publish), ``consumer`` (subscription, settlement, supervision).
"""

from gateway.broker.amqp.broker import AmqpBroker
from gateway.broker.amqp.channel import translate_publish_error, with_heartbeat
from gateway.broker.amqp.consumer import AmqpConsumer

__all__ = ["AmqpBroker", "AmqpConsumer", "translate_publish_error", "with_heartbeat"]
