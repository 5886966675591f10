"""The deliver stage: a validated submission handed to the adapter of its destination's service."""

from __future__ import annotations

from gateway.stages.deliver.runner import DeliverStage

__all__ = ["DeliverStage"]
