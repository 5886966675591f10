"""The two outcomes of a failed delivery, split by what the runner should do.

    GatewayError
    ├── ConfigError
    │   ├── AdapterNotFoundError     no adapter of that name is installed ("did you mean …")
    │   └── AdapterLoadError         the adapter's entry point failed to import or is not an Adapter
    ├── TransientError
    │   └── TransientDeliveryError   try again later (vendor down, timeout, 503, 429); ``retry_after``
    └── PermanentError
        └── PermanentDeliveryError   the Fachverfahren said no for this submission; park it

Any other exception escaping ``Adapter.deliver`` is a bug or an unforeseen failure: the runner logs
it with its traceback and treats it as transient until the retry budget is spent.
"""

from __future__ import annotations

from gateway.errors import ConfigError, PermanentError, TransientError


class TransientDeliveryError(TransientError):
    """The delivery may succeed later; ``retry_after`` (seconds) is the earliest sensible retry."""

    slug = "delivery-transient"

    def __init__(self, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class PermanentDeliveryError(PermanentError):
    """The Fachverfahren will never accept this submission as it is; ``code`` is the vendor's reason."""

    slug = "delivery-rejected"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.code = code


class AdapterNotFoundError(ConfigError):
    """No adapter is registered under ``name``; ``suggestions`` are the closest known names."""

    slug = "adapter-not-found"

    def __init__(self, name: str, suggestions: list[str], known: list[str], *, path: str = "") -> None:
        hint = f"; did you mean {' or '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        listing = ", ".join(known) or "none installed"
        super().__init__(f"unknown adapter {name!r}{hint} (known: {listing})", path=path)
        self.name = name
        self.suggestions = suggestions


class AdapterLoadError(ConfigError):
    """The adapter ``name`` is declared (entry point ``target``) but cannot be loaded."""

    slug = "adapter-load-failed"

    def __init__(self, name: str, target: str, reason: str) -> None:
        super().__init__(f"adapter {name!r} (entry point {name} = {target}) failed to load: {reason}")
        self.name = name
        self.target = target
        self.reason = reason
