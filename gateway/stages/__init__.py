"""The stages of a submission, in the order it travels::

    intake ──outbox──▶ relay ──▶ [validate] ──▶ validate ──▶ [deliver.<destination>] ──▶ deliver
                                                    └──────────────┴── events ──▶ [callbacks] ──▶ callbacks

Each stage package owns its queue handler (``handle`` and ``parked``, see
``gateway.broker.Handler``). Stages depend on the libraries below them (broker, store, content,
routing, events, crypto, adapters) and never on one another; ``gateway.app`` wires them.
"""
