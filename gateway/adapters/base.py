"""The plugin contract: one base class, one required async method.

A vendor writes::

    class Options(AdapterOptions):
        url: HttpUrl

    class MyAdapter(Adapter[Options]):
        \"\"\"Delivers to MyVendor's REST API.\"\"\"

        async def deliver(self, submission: Submission) -> Receipt:
            ...

and registers ``my-vendor = my_package:MyAdapter`` in the entry-point group
``xoev_gateway.adapters``. The options model is taken from the generic parameter (or an explicit
``Options`` class attribute); the gateway validates the operator's options against it at start-up,
publishes its JSON schema, and constructs the adapter with the validated model.

Lifecycle, driven by the runner: ``Adapter(options)`` → ``await start()`` → ``await check()``
(also on ``xgw adapters check``) → ``deliver()`` any number of times, possibly concurrently →
``await close()``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, Self, TypeVar, get_args, get_origin

import pydantic
import structlog
from pydantic import BaseModel, ConfigDict
from structlog.typing import FilteringBoundLogger

from gateway.adapters.submission import Receipt, Submission
from gateway.errors import ConfigError


class AdapterOptions(BaseModel):
    """Base for an adapter's options: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoOptions(AdapterOptions):
    """The options of an adapter that takes none."""


OptionsT = TypeVar("OptionsT", bound=BaseModel)


class Adapter(abc.ABC, Generic[OptionsT]):
    """Hands validated submissions to one kind of Fachverfahren.

    Subclasses implement :meth:`deliver`; the hooks :meth:`start`, :meth:`close` and
    :meth:`check` do nothing unless overridden. ``self.options`` is the validated options model,
    ``self.log`` a structlog logger named after the adapter's module (the runner binds
    ``submission_id`` and ``adapter`` in the context).
    """

    #: The pydantic model of this adapter's options; derived from ``Adapter[Model]`` if not set.
    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, options: OptionsT) -> None:
        """Keep the validated ``options``; raises ``TypeError`` for a model of the wrong class."""
        if not isinstance(options, self.Options):
            raise TypeError(
                f"{type(self).__name__} needs {self.Options.__name__}, got {type(options).__name__}"
            )
        self.options: OptionsT = options
        self.log: FilteringBoundLogger = structlog.get_logger(type(self).__module__)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "Options" in cls.__dict__:
            return
        for base in getattr(cls, "__orig_bases__", ()):
            origin = get_origin(base)
            if isinstance(origin, type) and issubclass(origin, Adapter):
                args = get_args(base)
                if args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
                    cls.Options = args[0]
                    return

    @classmethod
    def from_config(cls, options: Mapping[str, Any] | None = None, *, path: str = "options") -> Self:
        """Validate raw ``options`` (from the config file) and construct the adapter.

        Raises :class:`ConfigError` naming the offending key, e.g.
        ``options.url: Input should be a valid URL``.
        """
        try:
            model = cls.Options.model_validate(dict(options or {}))
        except pydantic.ValidationError as exc:
            raise options_error(exc, path) from exc
        return cls(model)  # type: ignore[arg-type]

    @abc.abstractmethod
    async def deliver(self, submission: Submission) -> Receipt:
        """Hand ``submission`` to the Fachverfahren and return its receipt.

        Must be idempotent on ``submission.submission_id``: delivering a submission that was
        already delivered has no second effect and returns a receipt again. Raises
        :class:`TransientDeliveryError` when a later attempt may succeed and
        :class:`PermanentDeliveryError` when none will; anything else counts as transient.
        """

    async def check(self) -> None:
        """Verify configuration, connectivity and credentials; raise if something is wrong.

        Raise :class:`ConfigError` for what the operator must fix and
        :class:`TransientDeliveryError` for what may heal (endpoint down). Default: nothing to check.
        """

    async def start(self) -> None:
        """Acquire long-lived resources (connection pools, sessions). Default: nothing."""

    async def close(self) -> None:
        """Release what :meth:`start` acquired; must be safe to call more than once. Default: nothing."""


def options_error(exc: pydantic.ValidationError, path: str = "options") -> ConfigError:
    """One :class:`ConfigError` for all problems in ``exc``, each prefixed with its key path."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = (
            ".".join([path, *(str(part) for part in error["loc"])])
            if path
            else ".".join(map(str, error["loc"]))
        )
        problems.append((loc, error["msg"]))
    first_path, first_msg = problems[0] if problems else (path, str(exc))
    rest = "".join(f"; {loc}: {msg}" for loc, msg in problems[1:])
    return ConfigError(first_msg + rest, path=first_path)
