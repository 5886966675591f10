"""The deployment files in ``deploy/`` checked offline (no container engine runs here): the compose
file against the Compose specification's JSON schema, the Kubernetes manifests with
``kubernetes-validate`` (custom resources by their required fields), every ``XGW_*`` variable
against the settings model, every ``xgw`` command against the CLI's parser, and the Dockerfile's
shape. Each checker is also shown a wrong input, so that a test that passes means something."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from pydantic import BaseModel

from gateway.cli import _parser
from gateway.config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
KUBERNETES = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.31"  # the oldest Kubernetes release the manifests are written for
IMAGE = "xoev-gateway"  # the image name in the manifests (kustomization.yaml rewrites it)

#: Custom resources, which kubernetes-validate has no schema for: their required fields, as
#: dotted paths (KEDA 2.x, RabbitMQ cluster operator 2.x).
CUSTOM_RESOURCES: dict[tuple[str, str], list[str]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): ["metadata.name", "spec.scaleTargetRef.name", "spec.triggers"],
    ("keda.sh/v1alpha1", "TriggerAuthentication"): ["metadata.name"],
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): ["metadata.name"],
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"): ["resources"],
}


# --- helpers -----------------------------------------------------------------------------------


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def manifests() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for doc in yaml_documents(path):
            yield path, doc


def compose_problems(document: dict[str, Any]) -> list[str]:
    schema = json.loads((DEPLOY / "schemas/compose-spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def lookup(doc: dict[str, Any], dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def manifest_problem(doc: dict[str, Any]) -> str | None:
    """Why ``doc`` is not a valid resource (strict schema of its kind), or None."""
    key = (doc.get("apiVersion", ""), doc.get("kind", ""))
    if key in CUSTOM_RESOURCES:
        missing = [field for field in CUSTOM_RESOURCES[key] if lookup(doc, field) in (None, "", [])]
        return f"{key}: missing {missing}" if missing else None
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return f"{doc['kind']} {lookup(doc, 'metadata.name')}: {'.'.join(map(str, exc.path))}: {exc.message}"
    except kubernetes_validate.SchemaNotFoundError as exc:
        return f"unknown kind: {exc.message}"
    return None


def settings_variables() -> set[str]:
    """Every environment variable the gateway reads: one per settings field (nested groups with
    ``__``, as pydantic-settings reads them), plus the ``XGW_*`` names the code reads itself."""
    config = Settings.model_config
    prefix, nested = str(config.get("env_prefix", "")), str(config.get("env_nested_delimiter", ""))

    def names(model: type[BaseModel], stem: str) -> Iterator[str]:
        for field_name, field in model.model_fields.items():
            name = f"{stem}{field_name}".upper()
            yield name
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
                yield from names(field.annotation, name + nested)

    read_directly = {
        match
        for source in (ROOT / "gateway").rglob("*.py")
        for match in re.findall(r"os\.environ(?:\.get)?[\[(]\"(XGW_[A-Z0-9_]+)\"", source.read_text())
    }
    return set(names(Settings, prefix)) | read_directly


def unknown_variables(text: str) -> set[str]:
    return set(re.findall(r"\bXGW_[A-Z0-9_]+", text)) - settings_variables()


def cli_problem(argv: list[str]) -> str | None:
    """Why ``xgw argv`` would not run (as the CLI's own parser sees it), or None."""
    try:
        parsed = _parser().parse_args(argv)
    except SystemExit:
        return f"xgw {shlex.join(argv)}: rejected by the CLI's parser"
    if not callable(getattr(parsed, "func", None)):
        return f"xgw {shlex.join(argv)}: no command"
    return None


def xgw_in_script(script: str) -> list[list[str]]:
    """The argument lists of every ``xgw …`` call in a shell script: ``xgw`` where a command starts
    (after ``;``, ``&&``, ``||``, ``|``, ``(``, a new line, ``then``, ``do``), up to the next of
    those or a redirection."""
    starts = r"(?:^|[;&|(\n]|\bthen\b|\bdo\b|\belse\b)[ \t]*"
    return [
        shlex.split(match.group(1) or "")
        for match in re.finditer(starts + r"xgw\b(?:[ \t]+([^;&|\n)<>]*))?", script, re.MULTILINE)
    ]


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined, current = [], ""
    for line in text.splitlines():
        if line.strip().startswith("#") and not current:
            continue
        current += line.rstrip("\\").strip() + " " if line.endswith("\\") else line.strip()
        if not line.endswith("\\"):
            if current:
                joined.append(current)
            current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined]


def dockerignored(path: str) -> bool:
    """Whether the repository's .dockerignore leaves ``path`` out of the build context (last
    matching pattern wins, ``!`` re-includes; enough for the patterns used there)."""
    ignored = False
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        hit = pattern == "**" or any(
            fnmatch.fnmatch(candidate, pattern) or fnmatch.fnmatch(candidate, pattern.replace("**/", ""))
            for candidate in [path, *(str(p) for p in Path(path).parents if str(p) != ".")]
        )
        if hit:
            ignored = not negate
    return ignored


def gateway_commands() -> Iterator[tuple[str, list[str]]]:
    """(where, argv) of every ``xgw`` invocation the deployment files make."""
    for name, service in compose()["services"].items():
        if "xoev-gateway" not in str(service.get("image", "")):
            continue
        where = f"compose service {name}"
        entry = service.get("entrypoint")
        if entry is None:
            yield where, [str(a) for a in service.get("command", [])]
        else:
            for script in service.get("command", []):
                yield from ((where, call) for call in xgw_in_script(script))
    for path, doc in manifests():
        spec = lookup(doc, "spec.template.spec") or {}
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            if container.get("image") != IMAGE:
                continue
            where = f"{path.name} {doc['kind']} {lookup(doc, 'metadata.name')}"
            if "command" in container:
                for script in container.get("args", []):
                    yield from ((where, call) for call in xgw_in_script(script))
            else:
                yield where, list(container.get("args", []))
    for instruction, arguments in dockerfile_instructions(DOCKERFILE.read_text()):
        if instruction == "CMD":
            yield "Dockerfile CMD", json.loads(arguments)
        elif instruction == "RUN":
            yield from (("Dockerfile RUN", call) for call in xgw_in_script(arguments))


# --- compose -----------------------------------------------------------------------------------


def test_compose_file_follows_the_compose_specification() -> None:
    assert compose_problems(compose()) == []


def test_compose_checker_catches_a_wrong_file() -> None:
    wrong = compose()
    wrong["services"]["api"]["deploy"]["replicaz"] = 2
    wrong["services"]["worker"]["restart"] = ["always"]
    problems = compose_problems(wrong)
    assert any("replicaz" in p for p in problems) and any("restart" in p for p in problems), problems


def test_compose_runs_every_stage_and_the_engines() -> None:
    services = compose()["services"]
    commands = {name: s.get("command") for name, s in services.items()}
    assert commands["api"] == ["api"] and commands["relay"] == ["relay"] and commands["worker"] == ["worker"]
    assert {"postgres", "rabbitmq", "prometheus", "grafana"} <= set(services)
    assert "replicas" in services["api"]["deploy"] and "replicas" in services["worker"]["deploy"]
    # the blob volume is shared by every api and worker, and so is the key directory
    for name in ("api", "relay", "worker"):
        assert {"xgw-data:/var/lib/xgw", "xgw-keys:/var/lib/xgw-keys"} <= set(services[name]["volumes"])
    plugins = DEPLOY / compose()["configs"]["rabbitmq-plugins"]["file"]
    assert "rabbitmq_management" in plugins.read_text() and "rabbitmq_prometheus" in plugins.read_text()


def test_compose_refers_to_files_that_exist() -> None:
    document = compose()
    paths = [Path(c["file"]) for c in document["configs"].values()]
    for service in document["services"].values():
        paths += [Path(v.split(":")[0]) for v in service.get("volumes", []) if v.startswith(".")]
        build = service.get("build")
        if build:
            paths += [Path(build["context"]), Path(build["context"]) / build["dockerfile"]]
    missing = [str(p) for p in paths if not (DEPLOY / p).exists()]
    assert not missing
    # Prometheus scrapes gateway:8080 (deploy/prometheus/prometheus.yml): the api answers to it
    assert "gateway" in document["services"]["api"]["networks"]["default"]["aliases"]


# --- kubernetes --------------------------------------------------------------------------------


def test_kubernetes_manifests_are_valid_resources() -> None:
    problems = [f"{path.name}: {p}" for path, doc in manifests() if (p := manifest_problem(doc))]
    assert problems == []


def test_kubernetes_checker_catches_wrong_resources() -> None:
    docs = {(doc["kind"], lookup(doc, "metadata.name")): doc for _path, doc in manifests()}
    deployment = json.loads(json.dumps(docs["Deployment", "xgw-api"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pathh"] = "/"
    scaled = docs["ScaledObject", "xgw-worker"]
    scaled = {**scaled, "spec": {"triggers": scaled["spec"]["triggers"]}}
    assert "pathh" in str(manifest_problem(deployment))
    assert "scaleTargetRef" in str(manifest_problem(scaled))
    assert "unknown kind" in str(manifest_problem({"apiVersion": "example.org/v1", "kind": "Gadget"}))


def test_kustomization_lists_every_manifest() -> None:
    (kustomization,) = yaml_documents(KUBERNETES / "kustomization.yaml")
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}


def test_kubernetes_has_probes_scaling_budgets_and_the_broker() -> None:
    docs = [doc for _path, doc in manifests()]
    kinds = {(d["kind"], lookup(d, "metadata.name")) for d in docs}
    deployments = {lookup(d, "metadata.name"): d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == {"xgw-api", "xgw-relay", "xgw-worker"}
    api = lookup(deployments["xgw-api"], "spec.template.spec")["containers"][0]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for deployment in deployments.values():
        container = lookup(deployment, "spec.template.spec")["containers"][0]
        assert container["resources"]["requests"] and container["resources"]["limits"]
        assert lookup(deployment, "spec.template.spec.securityContext.runAsNonRoot") is True
    assert {("PodDisruptionBudget", n) for n in deployments} <= kinds
    assert ("RabbitmqCluster", "xgw-rabbitmq") in kinds and ("Service", "xgw-api") in kinds
    (scaled,) = [d for d in docs if d["kind"] == "ScaledObject"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "xgw-worker"
    assert scaled["spec"]["triggers"][0]["type"] == "rabbitmq"
    claims = [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    assert claims and all(c["spec"]["accessModes"] == ["ReadWriteMany"] for c in claims)


# --- environment variables and commands --------------------------------------------------------


def deploy_texts() -> dict[str, str]:
    files = [p for p in DEPLOY.rglob("*") if p.is_file() and "schemas" not in p.relative_to(DEPLOY).parts]
    return {str(p.relative_to(ROOT)): p.read_text(errors="replace") for p in files}


def test_every_xgw_variable_in_the_deployment_files_is_a_setting() -> None:
    unknown = {
        name: sorted(found) for name, text in deploy_texts().items() if (found := unknown_variables(text))
    }
    assert unknown == {}
    assert "XGW_DATABASE_URL" in compose()["services"]["api"]["environment"]  # the scan saw them


def test_variable_check_catches_a_name_the_settings_lack() -> None:
    assert unknown_variables("XGW_AMQP_URL=x XGW_DELIVERY__PREFETCH=5 XGW_CONFIG=/c") == set()
    assert unknown_variables("XGW_AMQP_URI=x XGW_DELIVERY__PREFETCHES=5 XGW_LIMITS_MAX_ATTACHMENTS=1") == {
        "XGW_AMQP_URI",
        "XGW_DELIVERY__PREFETCHES",
        "XGW_LIMITS_MAX_ATTACHMENTS",
    }


def test_literal_settings_in_the_deployment_files_are_valid_values(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {k: str(v) for k, v in compose()["x-gateway"]["environment"].items()}
    for instruction, arguments in dockerfile_instructions(DOCKERFILE.read_text()):
        if instruction == "ENV":
            values |= dict(pair.split("=", 1) for pair in shlex.split(arguments))
    for name, value in values.items():
        if name.startswith("XGW_") and name != "XGW_CONFIG" and "$" not in value:
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.host == "0.0.0.0" and settings.log_format == "json"
    assert str(settings.key_dir) == "/var/lib/xgw-keys" and str(settings.data_dir) == "/var/lib/xgw"


def test_every_xgw_command_in_the_deployment_files_exists() -> None:
    calls = list(gateway_commands())
    problems = [f"{where}: {p}" for where, argv in calls if (p := cli_problem(argv))]
    assert problems == []
    seen = {argv[0] for _where, argv in calls}
    assert {"api", "relay", "worker", "serve", "keys", "config", "schemas"} <= seen


def test_command_check_catches_what_the_cli_lacks() -> None:
    assert cli_problem(["keys", "generate", "3706bfc4-34d0-4874-9687-35092693597c"]) is None
    assert cli_problem(["wrker"]) is not None
    assert cli_problem(["keys", "generate"]) is not None  # the destination is required
    assert cli_problem(["config", "check", "--conect"]) is not None
    script = 'set -e; test -d "$d" || xgw keys generate "$d"; xgw config check > /dev/null'
    assert xgw_in_script(script) == [["keys", "generate", "$d"], ["config", "check"]]
    assert xgw_in_script("useradd --gid xgw --home /x xgw && xgw\nxgw serve") == [[], ["serve"]]


# --- Dockerfile --------------------------------------------------------------------------------


def stages() -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for instruction, arguments in dockerfile_instructions(DOCKERFILE.read_text()):
        if instruction == "FROM":
            out.append([])
        if out:
            out[-1].append((instruction, arguments))
    return out


def test_dockerfile_is_multi_stage_non_root_with_a_health_check() -> None:
    built = stages()
    assert len(built) >= 2
    assert built[0][0][1].split()[-2:] == ["AS", "builder"]
    runtime = built[-1]
    users = [args for instruction, args in runtime if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    (health,) = [args for instruction, args in runtime if instruction == "HEALTHCHECK"]
    assert "/healthz" in health and "curl" not in health and "wget" not in health
    code = json.loads(health.split("CMD", 1)[1])
    assert code[:2] == ["python", "-c"]
    compile(code[2], "<healthcheck>", "exec")  # stdlib only, and valid Python
    assert any(i == "COPY" and "--from=builder" in a for i, a in runtime)
    assert any(i == "ENTRYPOINT" and json.loads(a) == ["xgw"] for i, a in runtime)
    volumes = next(json.loads(a) for i, a in runtime if i == "VOLUME")
    assert {"/var/lib/xgw", "/var/lib/xgw-keys"} <= set(volumes)


def copied_sources() -> list[str]:
    sources = []
    for instruction, arguments in dockerfile_instructions(DOCKERFILE.read_text()):
        if instruction in ("COPY", "ADD") and "--from=" not in arguments:
            sources += [a for a in shlex.split(arguments) if not a.startswith("--")][:-1]
    return sources


def test_dockerfile_copies_paths_that_exist_and_reach_the_build_context() -> None:
    sources = copied_sources()
    assert {"pyproject.toml", "gateway", "adapters", "schemas"} <= set(sources)
    assert [s for s in sources if not (ROOT / s).exists()] == []
    assert [s for s in sources if dockerignored(s)] == []
    # and what the image must not carry stays out
    assert dockerignored("tests/conftest.py") and dockerignored(".venv/bin/python")
    assert dockerignored("gateway/__pycache__/app.cpython-311.pyc")


def test_dockerfile_checkers_catch_a_wrong_file() -> None:
    wrong = "FROM python:3.11-slim\nUSER root\nCOPY nowhere/ /app\nRUN xgw sevre\n"
    instructions = dockerfile_instructions(wrong)
    assert [i for i, _ in instructions] == ["FROM", "USER", "COPY", "RUN"]
    assert instructions[1][1] == "root"
    assert not (ROOT / "nowhere").exists()
    assert cli_problem(xgw_in_script(instructions[3][1])[0]) is not None
