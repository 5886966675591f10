"""Which adapter classes exist, by name: discovered from entry points or registered directly.

The registry is an ordinary object, built once in the composition root (``gateway.app``) with
:meth:`AdapterRegistry.discover`; tests build their own and :meth:`~AdapterRegistry.register`
fakes. Entry points are loaded lazily, so one broken third-party package only stops start-up when
an operator actually configured it; ``xgw adapters list`` shows it with its error.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import structlog

from gateway.adapters.base import Adapter
from gateway.adapters.errors import AdapterLoadError, AdapterNotFoundError
from gateway.errors import ConfigError, GatewayError

ENTRY_POINT_GROUP = "xoev_gateway.adapters"

log = structlog.get_logger(__name__)

AdapterClass = type[Adapter[Any]]


@dataclass(frozen=True, slots=True)
class AdapterInfo:
    """What ``xgw adapters list`` shows about one adapter."""

    name: str
    class_path: str  #: ``module:QualName`` (the entry-point target for one that failed to load)
    summary: str  #: first paragraph of the class docstring
    options_schema: Mapping[str, Any]  #: JSON schema of the options model
    error: str | None = None  #: why it could not be loaded, if it could not


class AdapterRegistry:
    """Adapter classes by name: one name → one class."""

    def __init__(self) -> None:
        self._classes: dict[str, AdapterClass] = {}
        self._entry_points: dict[str, list[EntryPoint]] = {}

    @classmethod
    def discover(cls, group: str = ENTRY_POINT_GROUP) -> AdapterRegistry:
        """A registry of every entry point in ``group`` (loaded on first use, not here)."""
        registry = cls()
        registry.add_entry_points(entry_points(group=group))
        return registry

    def add_entry_points(self, eps: Iterable[EntryPoint]) -> None:
        """Declare adapters from entry points; the same target seen twice counts once."""
        for ep in eps:
            known = self._entry_points.setdefault(ep.name, [])
            if all(other.value != ep.value for other in known):
                known.append(ep)

    def register(self, name: str, adapter_class: AdapterClass, *, replace: bool = False) -> None:
        """Register ``adapter_class`` under ``name`` directly (tests, embedding).

        Raises ``ValueError`` if ``name`` is taken by another class and ``replace`` is false,
        ``TypeError`` if ``adapter_class`` is not an :class:`Adapter` subclass.
        """
        if not (inspect.isclass(adapter_class) and issubclass(adapter_class, Adapter)):
            raise TypeError(f"{adapter_class!r} is not a subclass of gateway.adapters.Adapter")
        taken = name in self._entry_points or self._classes.get(name, adapter_class) is not adapter_class
        if taken and not replace:
            raise ValueError(f"adapter name {name!r} is already registered")
        self._entry_points.pop(name, None)
        self._classes[name] = adapter_class

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted({*self._classes, *self._entry_points})

    def __contains__(self, name: object) -> bool:
        return name in self._classes or name in self._entry_points

    def get(self, name: str, *, path: str = "") -> AdapterClass:
        """The class registered as ``name``, loading its entry point if need be.

        Raises :class:`AdapterNotFoundError` (with "did you mean …") for an unknown name and
        :class:`AdapterLoadError` for an entry point that fails to import, is ambiguous, or does
        not name an :class:`Adapter` subclass.
        """
        if name in self._classes:
            return self._classes[name]
        eps = self._entry_points.get(name)
        if not eps:
            known = self.names()
            raise AdapterNotFoundError(
                name, difflib.get_close_matches(name, known, n=3, cutoff=0.6), known, path=path
            )
        if len(eps) > 1:
            targets = " and ".join(ep.value for ep in eps)
            raise AdapterLoadError(name, eps[0].value, f"the name is declared twice: {targets}")
        loaded = self._load(name, eps[0])
        self._classes[name] = loaded
        del self._entry_points[name]
        return loaded

    def create(
        self, name: str, options: Mapping[str, Any] | None = None, *, path: str = "options"
    ) -> Adapter[Any]:
        """Construct the adapter ``name`` with ``options`` validated against its options model.

        Raises :class:`ConfigError` naming the offending key path (``options.url: …``),
        :class:`AdapterNotFoundError` or :class:`AdapterLoadError`.
        """
        adapter_class = self.get(name)
        try:
            return adapter_class.from_config(options, path=path)
        except GatewayError:
            raise
        except Exception as exc:
            raise ConfigError(f"adapter {name!r} could not be constructed: {exc}", path=path) from exc

    def describe(self) -> list[AdapterInfo]:
        """One :class:`AdapterInfo` per name, sorted; adapters that fail to load carry ``error``."""
        infos = []
        for name in self.names():
            try:
                adapter_class = self.get(name)
            except AdapterLoadError as exc:
                infos.append(AdapterInfo(name, exc.target, "", {}, error=exc.reason))
                continue
            infos.append(
                AdapterInfo(
                    name=name,
                    class_path=f"{adapter_class.__module__}:{adapter_class.__qualname__}",
                    summary=_summary(adapter_class),
                    options_schema=adapter_class.Options.model_json_schema(),
                )
            )
        return infos

    @staticmethod
    def _load(name: str, ep: EntryPoint) -> AdapterClass:
        try:
            loaded = ep.load()
        except Exception as exc:
            log.error("adapter_load_failed", adapter=name, target=ep.value, error=repr(exc))
            raise AdapterLoadError(name, ep.value, f"{type(exc).__name__}: {exc}") from exc
        if not (inspect.isclass(loaded) and issubclass(loaded, Adapter)):
            raise AdapterLoadError(
                name, ep.value, f"{loaded!r} is not a subclass of gateway.adapters.Adapter"
            )
        if inspect.isabstract(loaded):
            raise AdapterLoadError(name, ep.value, f"{loaded.__qualname__} does not implement deliver()")
        return loaded


def _summary(adapter_class: type) -> str:
    """The first paragraph of the docstring, on one line."""
    doc = inspect.cleandoc(adapter_class.__dict__.get("__doc__") or "")
    return " ".join(doc.split("\n\n", 1)[0].split())
