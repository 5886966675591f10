"""``xgw adapters list`` (what is installed, which options each adapter takes) and
``xgw adapters check`` (whether each configured binding passes its adapter's ``check()``).

The CLI wiring lives in ``gateway.cli``; this module builds and renders.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from gateway.adapters.checks import CheckResult, run_check
from gateway.adapters.registry import AdapterInfo, AdapterRegistry
from gateway.config.model import TenantConfig
from gateway.errors import GatewayError


def list_adapters(registry: AdapterRegistry, *, as_json: bool = False) -> str:
    """The installed adapters with class, summary and options (JSON schema with ``as_json``)."""
    infos = registry.describe()
    if as_json:
        return json.dumps([asdict(info) for info in infos], indent=2, ensure_ascii=False, default=dict)
    if not infos:
        return "no adapters installed (entry-point group xoev_gateway.adapters is empty)"
    return "\n\n".join(_render(info) for info in infos)


def _render(info: AdapterInfo) -> str:
    lines = [f"{info.name}  ({info.class_path})"]
    if info.error:
        lines.append(f"  BROKEN: {info.error}")
        return "\n".join(lines)
    if info.summary:
        lines.append(f"  {info.summary}")
    rows = option_rows(info.options_schema)
    if not rows:
        lines.append("  options: none")
        return "\n".join(lines)
    lines.append("  options:")
    width = max(len(row[0]) for row in rows)
    for key, kind, need, description in rows:
        text = f"    {key.ljust(width)}  {kind}  {need}"
        lines.append(f"{text}  {description}".rstrip() if description else text)
    return "\n".join(lines)


def option_rows(schema: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """``(key, type, required-or-default, description)`` per top-level option of ``schema``."""
    required = set(schema.get("required", ()))
    defs = schema.get("$defs", {})
    rows = []
    for key, prop in schema.get("properties", {}).items():
        if key in required:
            need = "required"
        else:
            need = f"default {json.dumps(prop['default'])}" if "default" in prop else "optional"
        rows.append((key, _type_of(prop, defs), need, str(prop.get("description", ""))))
    return rows


def _type_of(prop: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    if "$ref" in prop:
        target = defs.get(str(prop["$ref"]).rsplit("/", 1)[-1], {})
        return _type_of(target, defs) if target else "object"
    if "enum" in prop:
        return " | ".join(json.dumps(value) for value in prop["enum"])
    if "const" in prop:
        return json.dumps(prop["const"])
    for combinator in ("anyOf", "oneOf"):
        if combinator in prop:
            return " | ".join(_type_of(option, defs) for option in prop[combinator])
    kind = str(prop.get("type", "any"))
    fmt = prop.get("format")
    if kind == "array":
        return f"list[{_type_of(prop.get('items', {}), defs)}]"
    if kind == "object" and "additionalProperties" in prop:
        return f"map[string, {_type_of(prop['additionalProperties'], defs)}]"
    return f"{kind} ({fmt})" if fmt else kind


async def check_adapters(
    registry: AdapterRegistry,
    tenants: Iterable[TenantConfig],
    *,
    destination: str | None = None,
    timeout_seconds: float = 30.0,
) -> list[CheckResult]:
    """Build, start, check and close the adapter of every binding in ``tenants`` (only those of
    ``destination`` if given), one at a time; an adapter that cannot be built or started is that
    binding's problem, not an error."""
    results = []
    for tenant in tenants:
        for dest in tenant.destinations:
            if destination is not None and str(dest.id) != destination.lower():
                continue
            for service in dest.services:
                if (bound := service.adapter) is not None:
                    problem = await _check_configured(registry, bound.name, bound.options, timeout_seconds)
                    results.append(CheckResult(str(dest.id), service.identifier, bound.name, problem))
    return results


async def _check_configured(
    registry: AdapterRegistry, name: str, options: Mapping[str, Any], timeout_seconds: float
) -> str | None:
    try:
        adapter = registry.create(name, options)
    except GatewayError as exc:
        return exc.detail
    try:
        async with asyncio.timeout(timeout_seconds):
            await adapter.start()
        return await run_check(adapter, timeout_seconds)
    except TimeoutError:
        return f"start() did not finish within {timeout_seconds:g} s"
    except Exception as exc:
        return f"start() failed: {exc.detail if isinstance(exc, GatewayError) else repr(exc)}"
    finally:
        with contextlib.suppress(Exception):
            await adapter.close()


def render_checks(results: Sequence[CheckResult]) -> str:
    """One line per binding: ``ok`` or ``FAILED``, destination, service, adapter, and the problem."""
    if not results:
        return "no adapter bindings configured"
    lines = []
    for result in results:
        status = "ok    " if result.ok else "FAILED"
        line = f"{status}  {result.destination}  {result.service}  {result.adapter}"
        lines.append(f"{line}\n        {result.problem}" if result.problem else line)
    failed = sum(not r.ok for r in results)
    lines.append(f"{len(results) - failed} ok, {failed} failed")
    return "\n".join(lines)
