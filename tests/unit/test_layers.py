"""The import graph of ``gateway`` and ``adapters``: layers, stages, the adapter SDK, library homes.

Every ``.py`` file is parsed with :mod:`ast`; every ``import`` counts, wherever it stands (module
level, inside a function, under ``if TYPE_CHECKING``). An import resolves to the longest project
module it names: ``from gateway.broker import consuming`` is an import of
``gateway.broker.consuming``, ``from gateway.broker import Delivery`` one of ``gateway.broker``
(the package that a submodule sits in is not counted as imported).

The layers below are the map of ``docs/architecture.md``; a module belongs to the layer of the
longest prefix that names it. Each rule returns its violations as ``path:line: statement`` lines,
and the last test plants one violation of each kind in a scratch tree to show the rules see them.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "adapters")


@dataclass(frozen=True)
class Layer:
    """A rank in the import graph: its modules may import its own and lower layers only."""

    name: str
    prefixes: tuple[str, ...]


#: Bottom to top. ``gateway`` itself (the namespace package) sits at the bottom.
LAYERS: tuple[Layer, ...] = (
    Layer("base", ("gateway", "gateway.errors", "gateway.logging", "gateway.memory", "gateway.pools")),
    Layer("declarations", ("gateway.config", "gateway.config.settings", "gateway.config.model")),
    Layer(
        "libraries",
        ("gateway.crypto", "gateway.validation", "gateway.broker", "gateway.adapters", "gateway.store"),
    ),
    Layer(
        "domain",
        (
            "gateway.config.check",
            "gateway.config.sync",
            "gateway.config.embedded",
            "gateway.access",
            "gateway.content",
            "gateway.events",
            "gateway.routing",
            "gateway.operations",
        ),
    ),
    Layer("stages", ("gateway.stages",)),
    Layer("api", ("gateway.api",)),
    Layer(
        "top", ("gateway.app", "gateway.cli", "gateway.demo", "gateway.server", "gateway.testing", "adapters")
    ),
)
#: The libraries are independent of each other: what two of them share lives lower, or the
#: composition root passes one to the other.
LIBRARIES = next(layer for layer in LAYERS if layer.name == "libraries").prefixes
STAGES = "gateway.stages"
#: What the built-in adapters may import from ``gateway``: the SDK's public surface.
SDK = "gateway.adapters"
#: Third-party library → the modules (prefixes) that may import it.
HOMES: Mapping[str, tuple[str, ...]] = {
    "cryptography": ("gateway.crypto",),
    "lxml": ("gateway.validation",),
    "jsonschema": ("gateway.validation",),
    "aio_pika": ("gateway.broker.amqp",),
    "aiormq": ("gateway.broker.amqp",),
    "alembic": ("gateway.store",),
    "sqlalchemy": (
        "gateway.store",
        "gateway.stages",
        "gateway.config.sync",  # writes the declared configuration
        "gateway.events.log",  # adds events to the caller's transaction
        "gateway.routing.recovery",  # re-enqueues in-flight work for the in-process broker
        "gateway.api.deps",  # the session factory as a typed dependency
        "gateway.api.wellknown",  # /health asks the database
        "gateway.app",
    ),
    "fastapi": ("gateway.api", "gateway.app"),
    "fastapi_offline": ("gateway.api.docs",),  # only its packaged Swagger UI and ReDoc files
    "starlette": ("gateway.api", "gateway.app"),
    "uvicorn": ("gateway.server", "gateway.demo"),
    "prometheus_client": ("gateway.operations.metrics",),
    "rich": ("gateway.cli",),
    "jinja2": ("gateway.api.dashboard.rendering",),
}


@dataclass(frozen=True)
class Import:
    """One imported name: ``target`` is a project module, or a third-party top-level package."""

    source: str
    path: str
    line: int
    statement: str
    target: str
    name: str  #: the name taken from ``target`` (``from target import name``), else ""

    def where(self) -> str:
        return f"{self.path}:{self.line}: {self.statement}"


@dataclass(frozen=True)
class Graph:
    modules: frozenset[str]
    internal: tuple[Import, ...]  #: imports of project modules (self-imports left out)
    external: tuple[Import, ...]  #: imports of third-party and standard-library packages
    sdk_exports: frozenset[str]  #: ``gateway.adapters.__all__``


def under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def module_files(root: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def _resolve(name: str, modules: frozenset[str]) -> str | None:
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterable[tuple[str, str]]:
    """(absolute dotted name, name taken from it) for each alias of an import statement."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, ""
        return
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        kept = package[: len(package) - (node.level - 1)]
        base = ".".join([*kept, *([node.module] if node.module else [])])
    for alias in node.names:
        yield (f"{base}.{alias.name}" if alias.name != "*" else base), alias.name


def scan(root: Path) -> Graph:
    files = module_files(root)
    modules = frozenset(files)
    internal: list[Import] = []
    external: list[Import] = []
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        relative = path.relative_to(root).as_posix()
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            statement = ast.unparse(node)
            for dotted, name in _imported(node, module, path.name == "__init__.py"):
                top = dotted.split(".")[0]
                if top not in PACKAGES:
                    external.append(Import(module, relative, node.lineno, statement, top, name))
                    continue
                if not name or name == "*" or dotted in modules:
                    target, name = _resolve(dotted, modules), ""  # a module: ``from pkg import sub``
                else:
                    target = _resolve(dotted.rpartition(".")[0], modules)  # ``from pkg import attr``
                if target != module:
                    internal.append(Import(module, relative, node.lineno, statement, target or dotted, name))
    sdk = files.get(SDK)
    return Graph(modules, tuple(internal), tuple(external), _exports(sdk) if sdk else frozenset())


def _exports(path: Path) -> frozenset[str]:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return frozenset(ast.literal_eval(node.value))
    return frozenset()


def layer_of(module: str) -> tuple[int, str] | None:
    """(rank, matching prefix) of the longest prefix naming ``module``."""
    best: tuple[int, str] | None = None
    for rank, layer in enumerate(LAYERS):
        for prefix in layer.prefixes:
            if prefix == "gateway" and module != "gateway":
                continue  # the namespace package itself, not everything below it
            if under(module, prefix) and (best is None or len(prefix) > len(best[1])):
                best = (rank, prefix)
    return best


def stage_of(module: str) -> str | None:
    """The stage package (or module) ``module`` belongs to: ``gateway.stages.<stage>``."""
    parts = module.split(".")
    return ".".join(parts[:3]) if under(module, STAGES) and len(parts) > 2 else None


# --- the rules ------------------------------------------------------------------------------------


def unknown_modules(graph: Graph) -> list[str]:
    problems = [
        f"{i.where()}: no module {i.target} in the project"
        for i in graph.internal
        if i.target not in graph.modules
    ]
    problems += [
        f"{m}: in no layer (add its prefix to LAYERS)" for m in sorted(graph.modules) if not layer_of(m)
    ]
    return problems


def cycles(graph: Graph) -> list[str]:
    """One cycle per strongly connected component, each import of it with file and line."""
    edges: dict[str, dict[str, Import]] = {}
    for i in graph.internal:
        edges.setdefault(i.source, {}).setdefault(i.target, i)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, {})):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph.modules):
        if node not in index:
            connect(node)
    problems = []
    for component in components:
        path = _cycle_through(component[0], set(component), edges)
        hops = [edges[a][b].where() for a, b in zip(path, path[1:], strict=False)]
        problems.append(" → ".join(path) + "\n    " + "\n    ".join(hops))
    return problems


def _cycle_through(start: str, members: set[str], edges: Mapping[str, Mapping[str, Import]]) -> list[str]:
    """The shortest path start → … → start inside one component (breadth first)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for nxt in sorted(edges.get(node, {})):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if nxt in members and nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    return [start]


def upward(graph: Graph) -> list[str]:
    problems = []
    for i in graph.internal:
        source, target = layer_of(i.source), layer_of(i.target)
        if source and target and target[0] > source[0]:
            problems.append(
                f"{i.where()}: {i.source} ({LAYERS[source[0]].name}) imports {i.target} "
                f"({LAYERS[target[0]].name}, a higher layer)"
            )
    return problems


def between_libraries(graph: Graph) -> list[str]:
    def library(module: str) -> str | None:
        found = layer_of(module)
        return found[1] if found and found[1] in LIBRARIES else None

    return [
        f"{i.where()}: library {library(i.source)} imports library {library(i.target)}"
        for i in graph.internal
        if library(i.source) and library(i.target) and library(i.source) != library(i.target)
    ]


def between_stages(graph: Graph) -> list[str]:
    return [
        f"{i.where()}: stage {stage_of(i.source)} imports stage {stage_of(i.target)}"
        for i in graph.internal
        if stage_of(i.source) and stage_of(i.target) and stage_of(i.source) != stage_of(i.target)
    ]


def outside_sdk(graph: Graph) -> list[str]:
    """Built-in adapters use only ``gateway.adapters`` and its ``__all__``; the gateway never
    imports them (they are found through their entry points, as a vendor's are)."""
    problems = []
    for i in graph.internal:
        if under(i.source, "adapters") and under(i.target, "gateway"):
            if i.target != SDK:
                problems.append(f"{i.where()}: {i.target} is not the adapter SDK ({SDK})")
            elif i.name and i.name not in graph.sdk_exports:
                problems.append(f"{i.where()}: {i.name} is not in {SDK}.__all__")
        if under(i.source, "gateway") and under(i.target, "adapters"):
            problems.append(f"{i.where()}: the gateway imports the built-in adapter {i.target}")
    return problems


def away_from_home(graph: Graph) -> list[str]:
    return [
        f"{i.where()}: {i.target} belongs in {' / '.join(HOMES[i.target])}"
        for i in graph.external
        if i.target in HOMES and not any(under(i.source, home) for home in HOMES[i.target])
    ]


# --- the project ----------------------------------------------------------------------------------


@functools.cache
def project() -> Graph:
    return scan(ROOT)


def _report(problems: list[str]) -> str:
    return f"{len(problems)} violation(s):\n" + "\n".join(problems)


def test_every_module_is_in_a_layer_and_every_import_names_a_module() -> None:
    assert project().internal, "no imports found: wrong ROOT?"
    problems = unknown_modules(project())
    assert not problems, _report(problems)


def test_no_import_cycles() -> None:
    problems = cycles(project())
    assert not problems, _report(problems)


def test_no_import_from_a_lower_layer_to_a_higher_one() -> None:
    problems = upward(project())
    assert not problems, _report(problems)


def test_libraries_do_not_import_each_other() -> None:
    problems = between_libraries(project())
    assert not problems, _report(problems)


def test_no_stage_imports_another_stage() -> None:
    problems = between_stages(project())
    assert not problems, _report(problems)


def test_builtin_adapters_import_only_the_adapter_sdk() -> None:
    assert project().sdk_exports, f"{SDK} has no __all__"
    problems = outside_sdk(project())
    assert not problems, _report(problems)


def test_each_third_party_library_is_imported_only_in_its_home() -> None:
    problems = away_from_home(project())
    assert not problems, _report(problems)


# --- the rules see what they are for --------------------------------------------------------------

PLANTED = {
    "gateway/__init__.py": "",
    "gateway/errors.py": "def f():\n    from gateway.store import models\n",
    "gateway/store/__init__.py": "",
    "gateway/store/models.py": "import cryptography.x509\nfrom gateway.crypto.keys import KeyPair\n",
    "gateway/crypto/__init__.py": "",
    "gateway/crypto/keys.py": "from ..store.models import Base\nKeyPair = 1\n",
    "gateway/adapters/__init__.py": '__all__ = ["Adapter"]\nfrom gateway.adapters.base import Adapter\n',
    "gateway/adapters/base.py": "class Adapter: ...\n",
    "gateway/stages/__init__.py": "",
    "gateway/stages/relay.py": "",
    "gateway/stages/intake/__init__.py": "from gateway.stages import relay\n",
    "gateway/stages/deliver/__init__.py": (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..intake import Intake\n"
    ),
    "gateway/app.py": "import adapters.vendor\n",
    "gateway/ops.py": "",
    "adapters/__init__.py": "",
    "adapters/vendor.py": (
        "from gateway.adapters import Adapter, Secret\nfrom gateway.adapters.base import Adapter\n"
    ),
}


def test_the_rules_report_planted_violations_with_file_and_line(tmp_path: Path) -> None:
    for name, text in PLANTED.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    graph = scan(tmp_path)

    assert unknown_modules(graph) == ["gateway.ops: in no layer (add its prefix to LAYERS)"]
    assert cycles(graph) == [
        "gateway.crypto.keys → gateway.store.models → gateway.crypto.keys\n"
        "    gateway/crypto/keys.py:1: from ..store.models import Base\n"
        "    gateway/store/models.py:2: from gateway.crypto.keys import KeyPair"
    ]
    assert upward(graph) == [
        "gateway/errors.py:2: from gateway.store import models: gateway.errors (base) imports "
        "gateway.store.models (libraries, a higher layer)"
    ]
    assert sorted(between_libraries(graph)) == [
        "gateway/crypto/keys.py:1: from ..store.models import Base: "
        "library gateway.crypto imports library gateway.store",
        "gateway/store/models.py:2: from gateway.crypto.keys import KeyPair: "
        "library gateway.store imports library gateway.crypto",
    ]
    assert sorted(between_stages(graph)) == [
        "gateway/stages/deliver/__init__.py:3: from ..intake import Intake: "
        "stage gateway.stages.deliver imports stage gateway.stages.intake",
        "gateway/stages/intake/__init__.py:1: from gateway.stages import relay: "
        "stage gateway.stages.intake imports stage gateway.stages.relay",
    ]
    assert outside_sdk(graph) == [
        "gateway/app.py:1: import adapters.vendor: the gateway imports the built-in adapter adapters.vendor",
        "adapters/vendor.py:1: from gateway.adapters import Adapter, Secret: "
        "Secret is not in gateway.adapters.__all__",
        "adapters/vendor.py:2: from gateway.adapters.base import Adapter: "
        "gateway.adapters.base is not the adapter SDK (gateway.adapters)",
    ]
    assert away_from_home(graph) == [
        "gateway/store/models.py:1: import cryptography.x509: cryptography belongs in gateway.crypto"
    ]
