"""``xgw adapters list``: what is installed, and which options each adapter takes.

The CLI wiring lives in ``gateway.cli``; this module only renders.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from gateway.adapters.registry import AdapterInfo, AdapterRegistry


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
