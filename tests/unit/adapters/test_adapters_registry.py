"""The adapter registry: entry-point discovery, lookup with suggestions, options, description."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pytest

from adapters.demo import DemoOkAdapter
from adapters.filesystem import FilesystemAdapter
from gateway.adapters import ConfigError
from gateway.adapters.commands import list_adapters, option_rows
from gateway.adapters.host import (
    ENTRY_POINT_GROUP,
    AdapterLoadError,
    AdapterNotFoundError,
    AdapterRegistry,
)
from tests.unit.adapters.conftest import BUILT_INS, ENTRY_POINTS


def ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


@pytest.fixture
def discovered(monkeypatch: pytest.MonkeyPatch) -> AdapterRegistry:
    declared = [
        ep("filesystem", "adapters.filesystem:FilesystemAdapter"),
        ep("filesystem", "adapters.filesystem:FilesystemAdapter"),  # the same distribution seen twice
        ep("demo-ok", "adapters.demo:DemoOkAdapter"),
        ep("broken", "xgw_no_such_vendor_module:Adapter"),
        ep("not-an-adapter", "json:dumps"),
        ep("abstract", "gateway.adapters:Adapter"),
        ep("twice", "adapters.demo:DemoOkAdapter"),
        ep("twice", "adapters.demo:DemoRejectAdapter"),
    ]

    def fake_entry_points(*, group: str) -> list[EntryPoint]:
        assert group == ENTRY_POINT_GROUP
        return declared

    monkeypatch.setattr("gateway.adapters.registry.entry_points", fake_entry_points)
    return AdapterRegistry.discover()


def test_discover_loads_entry_points_by_name(discovered: AdapterRegistry) -> None:
    assert discovered.names() == ["abstract", "broken", "demo-ok", "filesystem", "not-an-adapter", "twice"]
    assert discovered.get("filesystem") is FilesystemAdapter
    assert isinstance(discovered.create("demo-ok"), DemoOkAdapter)


def test_discover_with_the_real_entry_points_does_not_fail() -> None:
    registry = AdapterRegistry.discover()
    for name in registry.names():
        assert name in registry


def test_built_in_entry_point_targets_load_the_built_in_classes() -> None:
    registry = AdapterRegistry()
    registry.add_entry_points(ep(name, target) for name, target in ENTRY_POINTS.items())
    assert {name: registry.get(name) for name in registry.names()} == BUILT_INS


def test_installed_distribution_declares_exactly_the_built_ins() -> None:
    declared = {
        e.name: e.value
        for e in entry_points(group=ENTRY_POINT_GROUP)
        if e.dist is not None and e.dist.name == "xoev-gateway"
    }
    if not declared:
        pytest.skip("pyproject.toml declares no built-in adapters yet (or the package was not reinstalled)")
    assert declared == ENTRY_POINTS


def test_entry_point_that_fails_to_import_is_named(discovered: AdapterRegistry) -> None:
    with pytest.raises(
        AdapterLoadError,
        match=r"adapter 'broken' \(entry point broken = "
        r"xgw_no_such_vendor_module:Adapter\) failed to load: ModuleNotFoundError",
    ) as caught:
        discovered.create("broken", {})
    assert caught.value.name == "broken" and isinstance(caught.value, ConfigError)


def test_a_broken_entry_point_does_not_stop_the_others(discovered: AdapterRegistry) -> None:
    assert isinstance(discovered.create("demo-ok"), DemoOkAdapter)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("not-an-adapter", "is not a subclass of gateway.adapters.Adapter"),
        ("abstract", "does not implement deliver()"),
        ("twice", "declared twice: adapters.demo:DemoOkAdapter and adapters.demo:DemoRejectAdapter"),
    ],
)
def test_entry_points_that_are_not_usable_adapters_are_refused(
    discovered: AdapterRegistry, name: str, reason: str
) -> None:
    with pytest.raises(AdapterLoadError, match=reason):
        discovered.get(name)


def test_unknown_name_suggests_the_closest(registry: AdapterRegistry) -> None:
    with pytest.raises(
        AdapterNotFoundError, match=r"unknown adapter 'filesytem'; did you mean 'filesystem'\?"
    ):
        registry.create("filesytem", {})
    with pytest.raises(AdapterNotFoundError, match=r"'demo_ok'; did you mean 'demo-ok'") as caught:
        registry.get("demo_ok", path="tenants.0.destinations.0.services.0.adapter.name")
    assert caught.value.path.endswith("adapter.name")
    with pytest.raises(AdapterNotFoundError, match=r"unknown adapter 'sftp' \(known: demo-crash, demo-ok"):
        registry.get("sftp")


def test_bad_options_are_reported_with_their_key_path(registry: AdapterRegistry) -> None:
    with pytest.raises(ConfigError, match=r"^options\.url: Input should be a valid URL") as caught:
        registry.create("http", {"url": "::not-a-url::"})
    assert caught.value.path == "options.url"
    with pytest.raises(ConfigError, match=r"^adapter\.options\.directory: Field required"):
        registry.create("filesystem", {}, path="adapter.options")


def test_register_refuses_clashes_and_non_adapters(registry: AdapterRegistry) -> None:
    registry.register("filesystem", FilesystemAdapter)  # the same class again is fine
    with pytest.raises(ValueError, match="already registered"):
        registry.register("filesystem", DemoOkAdapter)
    registry.register("filesystem", DemoOkAdapter, replace=True)
    assert registry.get("filesystem") is DemoOkAdapter
    with pytest.raises(TypeError):
        registry.register("x", dict)  # type: ignore[arg-type]


def test_constructor_failure_becomes_a_config_error(registry: AdapterRegistry) -> None:
    class Fragile(DemoOkAdapter):
        def __init__(self, options: Any) -> None:
            raise RuntimeError("licence file missing")

    registry.register("fragile", Fragile)
    with pytest.raises(ConfigError, match="adapter 'fragile' could not be constructed: licence file missing"):
        registry.create("fragile")


def test_describe_lists_class_summary_and_options_schema(registry: AdapterRegistry) -> None:
    infos = {info.name: info for info in registry.describe()}
    assert sorted(infos) == sorted(BUILT_INS)
    fs = infos["filesystem"]
    assert fs.class_path == "adapters.filesystem:FilesystemAdapter"
    assert fs.summary.startswith("Writes each submission as a package")
    assert fs.options_schema["required"] == ["directory"]
    assert fs.options_schema["properties"]["format"]["enum"] == ["directory", "zip"]
    secret = infos["http"].options_schema["properties"]["secret"]
    assert secret["anyOf"][0] == {"format": "password", "type": "string", "writeOnly": True}


def test_describe_shows_broken_adapters_with_their_error(discovered: AdapterRegistry) -> None:
    broken = next(info for info in discovered.describe() if info.name == "broken")
    assert broken.error is not None and broken.error.startswith("ModuleNotFoundError")
    assert broken.class_path == "xgw_no_such_vendor_module:Adapter"


def test_list_adapters_shows_every_adapter_with_its_options(registry: AdapterRegistry) -> None:
    text = list_adapters(registry)
    assert "filesystem  (adapters.filesystem:FilesystemAdapter)" in text
    assert "Hot-folder" not in text  # the summary is the class docstring, not the module's
    assert 'format     "directory" | "zip"  default "directory"' in text
    assert "directory  string (path)  required  hot folder the Fachverfahren imports from" in text
    assert "headers           map[string, string (password)]  optional" in text
    assert "secret" in text and "demo-crash" in text and "options: none" in text


def test_list_adapters_as_json_includes_the_schemas(registry: AdapterRegistry) -> None:
    listed = {entry["name"]: entry for entry in json.loads(list_adapters(registry, as_json=True))}
    assert listed["http"]["options_schema"]["properties"]["mode"]["default"] == "multipart"
    assert listed["http"]["error"] is None


def test_list_adapters_marks_broken_ones_and_handles_none(discovered: AdapterRegistry) -> None:
    assert "broken  (xgw_no_such_vendor_module:Adapter)\n  BROKEN: ModuleNotFoundError" in list_adapters(
        discovered
    )
    assert "no adapters installed" in list_adapters(AdapterRegistry())


def test_option_rows_render_types() -> None:
    schema = FilesystemAdapter.Options.model_json_schema()
    assert option_rows(schema)[0] == (
        "directory",
        "string (path)",
        "required",
        "hot folder the Fachverfahren imports from; must exist and be writable",
    )
