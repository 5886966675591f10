"""The pickup stage of the FIT-Connect subscriber side: a Fachverfahren that speaks FIT-Connect
picks a destination's validated submissions up from the gateway, re-encrypted to its own key
(:mod:`gateway.stages.deliver.handoff`), and answers with its own signed accept or reject SET,
which the gateway turns into the sender's outcome.

* :mod:`~gateway.stages.pickup.answers`: checking the subscriber's SET and writing the sender's outcome;
* :mod:`~gateway.stages.pickup.tokens`: the subscriber clients' access tokens.

The ``fit-connect-subscriber`` bindings come from the config (:mod:`gateway.routing.subscribers`).
"""
