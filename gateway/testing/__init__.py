"""Testing an adapter in the gateway: a sender of the shipped sample, a harness that runs an adapter
through the real gateway, and the pytest plugin with their fixtures.

The plugin (:mod:`gateway.testing.plugin`) is registered with pytest through the entry-point group
``pytest11`` when the gateway is installed; its fixtures are ``xgw_submission``, ``xgw_vendor``
and ``xgw_harness``. The contract tests of a single adapter are in :mod:`gateway.adapters.testing`.
Nothing here is imported by the running gateway.
"""
