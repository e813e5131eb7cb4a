"""Security of the code and of serving: no unsafe deserialisation, secrets only from the
environment, a token guarding every /v1 route, CORS limited to its allow-list.

Already in ``serving/test_api.py``: 401 without or with a wrong token on two routes, the
allow-listed origin echoed on a simple GET and a foreign one not, probes without a token.
"""

from __future__ import annotations

import ast
import io
import os
import re
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch

from pricing_assets.settings import Settings
from serving.registry import BundleRegistry

from ..conftest import REPO
from ..serving.conftest import api_process
from .support import local_store, make_champion, promoted_codes, repromote

pytestmark = [pytest.mark.slow, pytest.mark.reliability]
SCANNED = ("pricing_assets", "serving")
STATIC = REPO / "serving" / "static"


# Unsafe deserialisation ----------------------------------------------------------------------------------
ALWAYS_UNSAFE = {
    "pickle.load",
    "pickle.loads",
    "pickle.Unpickler",
    "_pickle.load",
    "_pickle.loads",
    "cloudpickle.load",
    "cloudpickle.loads",
    "dill.load",
    "dill.loads",
    "joblib.load",
    "pandas.read_pickle",
    "shelve.open",
    "marshal.load",
    "marshal.loads",
    "yaml.unsafe_load",
    "yaml.full_load",
    "eval",
    "exec",
}


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


class UnsafeLoads(ast.NodeVisitor):
    """Calls that can run code hidden in a file, with import aliases resolved (``np`` is numpy)."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.found: list[tuple[int, str]] = []

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            else:  # "import os.path" binds "os"
                top = alias.name.split(".")[0]
                self.aliases[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}" if node.module else alias.name

    def _name(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            owner = self._name(node.value)
            return f"{owner}.{node.attr}" if owner else None
        return None

    def _loader(self, call: ast.Call) -> str | None:
        loader = _keyword(call, "Loader") or (call.args[1] if len(call.args) > 1 else None)
        return self._name(loader) if loader is not None else None

    def visit_Call(self, node: ast.Call) -> None:
        name = self._name(node.func)
        problem = None
        if name in ALWAYS_UNSAFE:
            problem = f"{name}()"
        elif name == "torch.load" and not _is_true(_keyword(node, "weights_only")):
            problem = "torch.load() without weights_only=True"
        elif name == "numpy.load" and _is_true(_keyword(node, "allow_pickle")):
            problem = "numpy.load(allow_pickle=True)"
        elif name == "yaml.load" and self._loader(node) not in ("yaml.SafeLoader", "yaml.CSafeLoader"):
            problem = "yaml.load() without SafeLoader"
        if problem:
            self.found.append((node.lineno, problem))
        self.generic_visit(node)


def unsafe_loads(source: str) -> list[tuple[int, str]]:
    scanner = UnsafeLoads()
    scanner.visit(ast.parse(source))
    return scanner.found


def python_files() -> list[Path]:
    return sorted(p for folder in SCANNED for p in (REPO / folder).rglob("*.py"))


def test_the_scanner_finds_each_unsafe_load():
    """The scan below can only be trusted if it flags what it looks for."""
    source = (
        "import pickle, joblib, yaml\nimport numpy as np\nimport torch as t\nfrom pandas import read_pickle\n"
        "pickle.loads(b'')\njoblib.load('m')\nt.load('f')\nt.load('f', weights_only=False)\n"
        "np.load('a', allow_pickle=True)\nyaml.load('x')\nread_pickle('p')\neval('1')\n"
        "t.load('f', weights_only=True)\nnp.load('a')\nnp.load('a', allow_pickle=False)\n"
        "yaml.load('x', Loader=yaml.SafeLoader)\nyaml.safe_load('x')\nmodel.eval()\n"
    )
    assert [line for line, _ in unsafe_loads(source)] == [5, 6, 7, 8, 9, 10, 11, 12]


def test_no_code_path_deserialises_unsafely():
    files = python_files()
    found = [f"{p.relative_to(REPO)}:{line}: {problem}" for p in files for line, problem in unsafe_loads(p.read_text())]
    assert len(files) > 30 and found == []


class Payload:
    """A pickle that creates a folder when loaded: what a hostile model file would do, harmlessly."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def hostile_state_dict(marker: Path) -> bytes:
    buffer = io.BytesIO()
    torch.save({"0.weight": Payload(marker)}, buffer)
    return buffer.getvalue()


def test_a_pickle_in_the_store_never_runs(promoted_project, tmp_path):
    """A hostile ``state_dict.pt``: refused by hash; and with its hash rewritten too (someone who can
    write the whole store), ``torch.load(weights_only=True)`` refuses to run it. The next model answers."""
    project = tmp_path / "project"
    shutil.copytree(promoted_project, project)
    store = local_store(project)
    source = promoted_codes(project)[0]
    proof, tampered, rewritten = tmp_path / "proof", tmp_path / "ran-tampered", tmp_path / "ran-rewritten"
    torch.load(io.BytesIO(hostile_state_dict(proof)), weights_only=False)  # the payload is live...
    assert proof.is_dir()
    pointer = repromote(store, source, "PICKLE1", make_champion("dfn"))
    version_folder = project / ".pricing" / "store" / pointer["manifest_key"].rsplit("/", 1)[0]
    (version_folder / "models" / "dfn" / "state_dict.pt").write_bytes(hostile_state_dict(tampered))

    def rewrite(files: dict, manifest: dict) -> None:
        make_champion("dfn")(files, manifest)
        files["models/dfn/state_dict.pt"] = hostile_state_dict(rewritten)

    repromote(store, source, "PICKLE2", rewrite)
    registry = BundleRegistry(store, reload_seconds=0)
    prices = registry.get(source).recommendation_inputs.mix.current_list_price * np.array([0.9, 1.1])
    answers = {code: registry.get(code).predict(prices) for code in ("PICKLE1", "PICKLE2")}
    assert not tampered.exists() and not rewritten.exists()  # ...but never ran from the store
    assert all(a.model != "dfn" and a.fallback_used and a.skipped[0]["model"] == "dfn" for a in answers.values())
    assert "SHA-256" in answers["PICKLE1"].skipped[0]["reason"]
    assert "Weights only load failed" in answers["PICKLE2"].skipped[0]["reason"]


# Secrets --------------------------------------------------------------------------------------------------
SECRET_NAME = re.compile(r"(password|passwd|secret|token|api_key|access_key|credential)", re.IGNORECASE)
SECRET_TEXT = [
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    # user:password@ in a URL, unless the password is a placeholder (..., ***, <...>, $VAR, {...})
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:(?!\.\.\.@|\*+@|[<${])[^/\s@'\"]+@"), "a URL with a password"),
]


def secret_literals(source: str) -> list[tuple[int, str]]:
    """Non-empty string constants assigned or passed to something named like a secret."""
    found = []
    for node in ast.walk(ast.parse(source)):
        pairs: list[tuple[str | None, ast.expr | None]] = []
        if isinstance(node, ast.Assign):
            pairs = [(getattr(t, "id", getattr(t, "attr", None)), node.value) for t in node.targets]
        elif isinstance(node, ast.AnnAssign):
            pairs = [(getattr(node.target, "id", getattr(node.target, "attr", None)), node.value)]
        elif isinstance(node, ast.keyword):
            pairs = [(node.arg, node.value)]
        elif isinstance(node, ast.Dict):
            keys = [k.value if isinstance(k, ast.Constant) else None for k in node.keys]
            pairs = list(zip(keys, node.values, strict=True))
        for name, value in pairs:
            if (
                isinstance(name, str)
                and SECRET_NAME.search(name)
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
                and value.value.strip()
            ):
                found.append((value.lineno, name))
    return found


def test_the_secret_scanners_find_what_they_look_for():
    source = 'API_TOKEN = "abc123"\nconnect(password="hunter2")\nx = {"aws_secret_access_key": "k"}\ntoken: str = "t"\n'
    assert sorted(line for line, _ in secret_literals(source)) == [1, 2, 3, 4]
    assert secret_literals('token = os.environ["PRICING_API_TOKEN"]\napi_token: str | None = None\n') == []
    texts = ["key AKIAABCDEFGHIJKLMNOP", "-----BEGIN RSA PRIVATE KEY-----", "redis://user:pw@host:6379/0"]
    assert all(any(p.search(t) for p, _ in SECRET_TEXT) for t in texts)
    placeholders = ["pyamqp://guest@127.0.0.1:5672//", "amqp://pricing:...@rabbit:5672//", "redis://u:${PW}@h/0"]
    assert not any(p.search(t) for p, _ in SECRET_TEXT for t in placeholders)


def test_no_secret_is_written_in_code_or_deployment_files():
    found = [f"{p.relative_to(REPO)}:{line}: {n}" for p in python_files() for line, n in secret_literals(p.read_text())]
    candidates = [REPO / "Dockerfile", REPO / "workspace.yaml", *(REPO / "deploy").rglob("*"), *STATIC.rglob("*")]
    other_files = [p for p in candidates if p.is_file()]
    for path in [*python_files(), *other_files]:
        text = path.read_text(errors="replace")
        found += [f"{path.relative_to(REPO)}: {what}" for pattern, what in SECRET_TEXT if pattern.search(text)]
        if path.suffix in (".yaml", ".yml"):  # a password key must name an env var or secret, not hold a value
            found += [
                f"{path.relative_to(REPO)}: {m.group(0).strip()}"
                for m in re.finditer(r"(?im)^[ \t]*\w*password:[ \t]*(?![\"']{2}|$|\{)(\S+)", text)
            ]
    assert found == []


def test_secrets_come_from_the_environment_and_default_to_nothing():
    secret_fields = [f for f in Settings.__dataclass_fields__.values() if SECRET_NAME.search(f.name)]
    assert "api_token" in [f.name for f in secret_fields]
    assert all(f.default in (None, "") for f in secret_fields)
    assert Settings.from_env({}).api_token is None
    assert Settings.from_env({"PRICING_API_TOKEN": "from-env"}).api_token == "from-env"


# Token and CORS over HTTP -----------------------------------------------------------------------------------
TOKEN = "tok-Quartz-Otter-93"
ALLOWED = "https://pricing.example"


@pytest.fixture(scope="module")
def guarded(promoted_project):
    with api_process(promoted_project, PRICING_API_TOKEN=TOKEN, PRICING_CORS_ORIGINS=ALLOWED) as server:
        yield server, promoted_codes(promoted_project)[0]


def v1_targets(url: str, code: str) -> list[str]:
    """Every /v1 route of the served spec, so a route added later without the token check fails here."""
    paths = httpx.get(f"{url}/openapi.json").json()["paths"]
    return [p.replace("{stockcode}", code) for p in paths if p.startswith("/v1/")]


@pytest.mark.parametrize(
    "headers,params",
    [
        ({}, {}),
        ({"Authorization": ""}, {}),
        ({"Authorization": "Bearer"}, {}),
        ({"Authorization": f"Basic {TOKEN}"}, {}),
        ({"Authorization": f"Bearer {TOKEN}x"}, {}),
        ({"Authorization": f"Bearer {TOKEN[:-1]}"}, {}),
        ({"Authorization": f"Bearer {TOKEN.upper()}"}, {}),
        ({"Authorization": "Bearer \u00e9t\u00e9".encode()}, {}),
        ({"X-Api-Token": TOKEN}, {"token": TOKEN, "access_token": TOKEN}),
    ],
    ids=["none", "empty", "scheme only", "basic", "longer", "shorter", "case", "unicode", "elsewhere"],
)
def test_every_v1_route_needs_the_exact_bearer_token(guarded, headers, params):
    server, code = guarded
    targets = v1_targets(server.url, code)
    assert len(targets) == 3
    for target in targets:
        response = httpx.get(f"{server.url}{target}", headers=headers, params=params)
        assert response.status_code == 401, target
        assert response.headers["www-authenticate"] == "Bearer" and TOKEN not in response.text


def test_the_right_token_opens_every_v1_route_and_is_never_logged(guarded):
    server, code = guarded
    for target in v1_targets(server.url, code):
        assert httpx.get(f"{server.url}{target}", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
    # Only where a client itself put the token in a URL (refused above) can it be in the access log.
    assert [line for line in server.log().splitlines() if TOKEN in line and "token=" not in line] == []


@pytest.mark.parametrize(
    "origin,allowed",
    [
        (ALLOWED, True),
        ("https://evil.example", False),
        ("https://pricing.example.evil.example", False),
        ("http://pricing.example", False),
        ("null", False),
    ],
)
def test_cors_preflight_answers_only_the_allow_list(guarded, origin, allowed):
    server, code = guarded
    preflight = httpx.options(
        f"{server.url}/v1/predict-price/{code}",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert (preflight.headers.get("access-control-allow-origin") == origin) is allowed
    assert preflight.status_code == (200 if allowed else 400)
    answer = httpx.get(
        f"{server.url}/v1/predict-price/{code}", headers={"Origin": origin, "Authorization": f"Bearer {TOKEN}"}
    )
    assert (answer.headers.get("access-control-allow-origin") == origin) is allowed


def test_cors_preflight_refuses_methods_other_than_get(guarded):
    server, code = guarded
    for method in ("POST", "DELETE", "PUT"):
        preflight = httpx.options(
            f"{server.url}/v1/predict-price/{code}",
            headers={"Origin": ALLOWED, "Access-Control-Request-Method": method},
        )
        assert preflight.status_code == 400 and "Disallowed CORS method" in preflight.text


def test_without_an_allow_list_no_origin_gets_cors_headers(promoted_project):
    """The default is no cross-origin access at all (the same-origin page needs none). In-process:
    the app is the one the server runs, only the transport differs."""
    from fastapi.testclient import TestClient

    from serving.app import create_app

    code = promoted_codes(promoted_project)[0]
    client = TestClient(create_app(Settings.from_env({"PRICING_PROJECT_DIR": str(promoted_project)})))
    answer = client.get(f"/v1/predict-price/{code}", headers={"Origin": "https://any.example"})
    preflight = client.options(
        f"/v1/predict-price/{code}", headers={"Origin": "https://any.example", "Access-Control-Request-Method": "GET"}
    )
    assert answer.status_code == 200 and "access-control-allow-origin" not in answer.headers
    assert "access-control-allow-origin" not in preflight.headers and preflight.status_code == 405
