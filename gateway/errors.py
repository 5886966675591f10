"""The gateway's exception tree, split by what the caller should do.

    GatewayError                      root; carries a stable ``slug``
    ├── ClientError                   the caller sent something wrong; answer 4xx, never retry
    │   ├── NotFoundError             404 (unknown, or not the caller's: no existence oracle)
    │   ├── AuthenticationError       401
    │   ├── ForbiddenError            403
    │   ├── ConflictError             409 (state does not allow the request)
    │   ├── PayloadTooLargeError      413
    │   ├── UnsupportedMediaTypeError 415
    │   ├── TooManyRequestsError      429 (with ``Retry-After``)
    │   └── InvalidRequestError       422 (body or path does not meet the contract)
    ├── ConfigError                   the operator's configuration is wrong; stop at start-up
    ├── TransientError                may succeed later (broker down, timeout): retry with backoff
    │   └── UnavailableError          the infrastructure failed a request; ``retry_after_seconds``
    │       ├── ServiceUnavailableError  503: the database is unreachable, reset or busy
    │       └── StorageFullError         507: no space left for the request's data
    └── PermanentError                will never succeed for this input: park or reject
        ├── JweFormatError            gateway.crypto.compact: not a compact JWE, or its header is
        │                             not allowed; ``reason`` (also the ``slug``) says which
        ├── DecryptionError           gateway.crypto.jwe: the destination's keys cannot open the JWE
        │                             (one message for every cause); slug ``encryption-issue``
        ├── ContentKeyError           gateway.crypto.keywrap: a stored wrapped content key does not
        │   │                         unwrap (altered, moved); slug ``content-key-invalid``
        │   └── UnknownWrapKeyError   its wrap key is not in the key directory
        └── JwsError                  gateway.crypto.jws: a JWS that is malformed, uses another
                                      algorithm or does not verify; slug ``jws-invalid``

The validation and adapter errors hang below these branches too; ``gateway.validation.errors``
and ``gateway.adapters.errors`` draw their subtrees.

HTTP status and problem type are derived from the class (see ``gateway.api.problems``); the
``slug`` names the problem type, ``detail`` is safe to show to the client.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose."""

    slug: str = "internal-error"
    status: int = 500
    retry_after_seconds: int | None = None  #: when set, answered as ``Retry-After``

    def __init__(self, detail: str, *, slug: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if slug is not None:
            self.slug = slug


class ClientError(GatewayError):
    status = 400
    slug = "bad-request"


class NotFoundError(ClientError):
    status = 404
    slug = "not-found"


class AuthenticationError(ClientError):
    status = 401
    slug = "unauthorized"


class ForbiddenError(ClientError):
    status = 403
    slug = "forbidden"


class ConflictError(ClientError):
    status = 409
    slug = "conflict"


class PayloadTooLargeError(ClientError):
    status = 413
    slug = "payload-too-large"


class UnsupportedMediaTypeError(ClientError):
    status = 415
    slug = "unsupported-media-type"


class TooManyRequestsError(ClientError):
    """The client has too much of this kind in progress already."""

    status = 429
    slug = "too-many-requests"
    retry_after_seconds = 1


class InvalidRequestError(ClientError):
    status = 422
    slug = "request-body-invalid"


class ConfigError(GatewayError):
    """The configuration cannot be used; ``path`` names the offending key."""

    slug = "config-invalid"

    def __init__(self, detail: str, *, path: str = "") -> None:
        super().__init__(f"{path}: {detail}" if path else detail)
        self.path = path


class TransientError(GatewayError):
    """May succeed when retried later."""

    slug = "transient-failure"
    status = 503


class UnavailableError(TransientError):
    """The database or the blob disk failed a request; the sender may retry after
    ``retry_after_seconds`` (sent as ``Retry-After``)."""

    retry_after_seconds = 5


class ServiceUnavailableError(UnavailableError):
    slug = "service-unavailable"


class StorageFullError(UnavailableError):
    status = 507
    slug = "storage-full"
    retry_after_seconds = 60


class PermanentError(GatewayError):
    """Will not succeed for this input, however often it is retried."""

    slug = "permanent-failure"
