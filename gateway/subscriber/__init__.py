"""The FIT-Connect subscriber side: a Fachverfahren that speaks FIT-Connect picks a destination's
validated submissions up from the gateway, re-encrypted to its own key, and answers with its own
signed accept or reject SET, which the gateway turns into the sender's outcome.

* :mod:`~gateway.subscriber.directory`: the ``fit-connect-subscriber`` bindings from the config;
* :mod:`~gateway.subscriber.handoff`: the deliver queues' handler for bound destinations;
* :mod:`~gateway.subscriber.answers`: checking the subscriber's SET and writing the sender's outcome;
* :mod:`~gateway.subscriber.tokens`: the subscriber clients' access tokens.
"""
