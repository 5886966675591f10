"""What the OpenAPI document says beyond the routes' signatures: tags, request bodies, problems.

The routes read their bodies themselves (streamed, size-capped, strict JSON), so FastAPI infers
none; each route declares its body with :func:`json_body`, :func:`jose_body` or :func:`form_body`
(as ``openapi_extra``) and its problem responses with :func:`problems`, whose catalogue
:data:`PROBLEMS` names every problem type the API answers with.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from typing import Any

from pydantic import BaseModel

from gateway.api.problems import MEDIA_TYPE, problem_type, title

AUTH, ROUTING, SENDER, DRY_RUN, KEYS, ADMIN = "auth", "routing", "sender", "dry-run", "keys", "admin"
SUBSCRIBER = "subscriber"

TAGS: list[dict[str, Any]] = [
    {"name": AUTH, "description": "OAuth2 client credentials: the bearer token the other operations need."},
    {"name": ROUTING, "description": "Destinations: the services they offer, their regions and schemas."},
    {
        "name": SENDER,
        "description": "Create a submission, upload its encrypted attachments, submit it, read its events.",
    },
    {
        "name": SUBSCRIBER,
        "description": "For a Fachverfahren with the fit-connect-subscriber binding: list, fetch and "
        "answer its destinations' submissions, re-encrypted to its own key.",
    },
    {"name": DRY_RUN, "description": "Check a whole submission as validation would, without storing it."},
    {"name": KEYS, "description": "Public keys, no token needed: encryption keys, SET verification keys."},
    {"name": ADMIN, "description": "Operations for operators and load balancers."},
]

#: Every problem type the API answers with: slug → (HTTP status, when).
PROBLEMS: dict[str, tuple[int, str]] = {
    "query-invalid": (400, "a query parameter is missing or malformed; `detail` names it"),
    "jwe-malformed": (400, "a part is not a compact JWE"),
    "jwe-header-invalid": (400, "a JWE's protected header cannot be read"),
    "jwe-header-not-allowed": (400, "a JWE's algorithm or header parameters are not accepted"),
    "jwe-unknown-key": (400, "a JWE's kid is not an encryption key of the destination"),
    "invalid-client": (401, "unknown client or wrong secret (also `error: invalid_client`)"),
    "invalid-token": (401, "bearer token missing, invalid or expired"),
    "invalid-operator": (401, "admin API: operator credentials (HTTP Basic) missing or wrong"),
    "forbidden": (403, "admin API: not a destination of this operator, or no submission or filter named"),
    "destination-not-allowed": (403, "this client may not send to this destination"),
    "destination-not-found": (404, "unknown destination"),
    "key-not-found": (404, "unknown key"),
    "submission-not-found": (404, "unknown submission, or not this client's"),
    "attachment-not-found": (404, "the attachment was not announced"),
    "case-not-found": (404, "unknown case, or not this client's"),
    "key-pinned": (409, "admin API: the configuration pins the destination's encryption key; change the pin"),
    "submission-state-invalid": (409, "the submission was already submitted (with other parts)"),
    "event-invalid": (
        422,
        "subscriber: the SET is malformed, or its claims are not FIT-Connect's",
    ),
    "event-signature-invalid": (
        422,
        "subscriber: not signed with the registered signing key",
    ),
    "event-case-mismatch": (
        422,
        "subscriber: iss, sub or txn name another destination or case",
    ),
    "event-not-supported": (422, "subscriber: only accept-submission and reject-submission are taken"),
    "authentication-tags-mismatch": (422, "subscriber: the tags are not those of the parts it fetched"),
    "problems-invalid": (422, "subscriber: a reject-submission without problems (type and title)"),
    "payload-too-large": (413, "the body is larger than the configured limit"),
    "unsupported-media-type": (415, "wrong Content-Type"),
    "request-invalid": (422, "the request does not meet the contract (e.g. its Content-Length)"),
    "request-body-invalid": (422, "the body does not meet the contract; `detail` names the field"),
    "too-many-attachments": (422, "more attachments than the configured limit"),
    "attachment-ids-not-unique": (422, "an attachment id appears twice"),
    "missing-attachments": (422, "announced attachments were not uploaded"),
    "destination-state-invalid": (422, "the destination is not active"),
    "service-not-offered": (422, "the destination does not offer this service"),
    "region-not-offered": (422, "the service is not offered in this region"),
    "request-timeout": (408, "the head or body arrived too slowly (`http.*` settings); connection closed"),
    "request-header-fields-too-large": (431, "request line and headers over `http.max_header_bytes`"),
    "too-many-requests": (429, "too many token requests or failed authentications; see `Retry-After`"),
    "internal-error": (500, "an unexpected failure; the log has the details"),
    "service-busy": (503, "too many requests in flight, overall or for this client; see `Retry-After`"),
    "service-unavailable": (503, "the database is unreachable, reset or busy; see `Retry-After`"),
    "not-ready": (503, "a readiness check failed; `errors` lists every check, `detail` the failed ones"),
    "storage-full": (507, "no space left for the data; see `Retry-After`"),
}

#: Answered by every operation.
COMMON = (
    "request-invalid",
    "request-timeout",
    "request-header-fields-too-large",
    "too-many-requests",
    "internal-error",
    "service-busy",
    "service-unavailable",
)
#: Answered besides by the operations that store data.
STORES = ("storage-full",)
BEARER = ("invalid-token",)
BODY = ("unsupported-media-type", "payload-too-large", "request-body-invalid")
JWE = ("jwe-malformed", "jwe-header-invalid", "jwe-header-not-allowed", "jwe-unknown-key")
#: What a sender may send where (``gateway.access``).
ACCESS = (
    "destination-not-found",
    "destination-state-invalid",
    "service-not-offered",
    "region-not-offered",
    "destination-not-allowed",
)


def _problem_schema(status: int, types: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {"type": "string", "enum": types, "description": "what happened; switch on this"},
            "title": {"type": "string"},
            "status": {"type": "integer", "enum": [status]},
            "detail": {"type": "string", "description": "safe to show to the sender"},
            "errors": {
                "type": "array",
                "items": {"type": "object"},
                "description": "request-invalid: what the contract check found",
            },
            "error": {"type": "string", "description": "invalid-client: the OAuth2 error code"},
        },
    }


def problems(*slugs: str) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of an operation that answers with these problems (and :data:`COMMON`)."""
    by_status: dict[int, list[str]] = defaultdict(list)
    for slug in dict.fromkeys((*slugs, *COMMON)):
        by_status[PROBLEMS[slug][0]].append(slug)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, group in sorted(by_status.items()):
        examples = {
            slug: {
                "summary": PROBLEMS[slug][1],
                "value": {"type": problem_type(slug), "title": title(slug), "status": status},
            }
            for slug in group
        }
        responses[status] = {
            "description": "; ".join(f"`{s}`: {PROBLEMS[s][1]}" for s in group),
            "content": {
                MEDIA_TYPE: {
                    "schema": _problem_schema(status, [problem_type(s) for s in group]),
                    "examples": examples,
                }
            },
        }
        if status == 401:
            responses[status]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return responses


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` with every ``$ref`` into ``defs`` replaced by its target (the models are not recursive)."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(defs[node["$ref"].rsplit("/", 1)[1]], defs)
        return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _body(media_type: str, schema: dict[str, Any], example: Any, description: str) -> dict[str, Any]:
    content = {media_type: {"schema": schema, "example": example}}
    return {"requestBody": {"required": True, "description": description, "content": content}}


def json_body(model: type[BaseModel], example: dict[str, Any], description: str) -> dict[str, Any]:
    """``openapi_extra`` of a route that reads ``model`` as a JSON object (unknown fields ignored)."""
    schema = model.model_json_schema(by_alias=True)
    return _body("application/json", _inline(schema, schema.get("$defs", {})), example, description)


def _b64(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


JWE_PATTERN = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){4}$"
#: The shape of a compact JWE as senders build it (the segments shortened).
JWE_EXAMPLE = ".".join(
    [
        _b64({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "<destination encryption kid>"}),
        _b64(b"<encrypted key>"),
        _b64(b"<96-bit IV>"),
        _b64(b"<ciphertext>"),
        _b64(b"<128-bit tag>"),
    ]
)


def jose_body(description: str) -> dict[str, Any]:
    """``openapi_extra`` of a route that streams one compact JWE (``application/jose``)."""
    schema = {"type": "string", "pattern": JWE_PATTERN, "description": "compact JWE (RFC 7516)"}
    return _body("application/jose", schema, JWE_EXAMPLE, description)


def form_body(schema: dict[str, Any], example: dict[str, str], description: str) -> dict[str, Any]:
    """``openapi_extra`` of a route that reads an ``application/x-www-form-urlencoded`` body."""
    return _body("application/x-www-form-urlencoded", schema, example, description)
