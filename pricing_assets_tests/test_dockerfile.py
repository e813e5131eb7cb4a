"""What can be checked of the Dockerfile without a Docker engine: its inputs and entry point."""

import importlib
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = (REPO / "Dockerfile").read_text()


def test_every_copied_path_exists():
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY "):
            *sources, _dest = line.split()[1:]
            for source in sources:
                assert (REPO / source).exists(), f"Dockerfile copies {source}, which is not in the repo"


def test_default_command_loads_the_code_location():
    cmd = json.loads(re.search(r"^CMD (.+)$", DOCKERFILE, re.M).group(1))
    module = cmd[cmd.index("-m") + 1]
    defs = importlib.import_module(module).defs
    assert defs.resolve_asset_graph().get_all_asset_keys()


SERVING_DOCKERFILE = (REPO / "serving" / "Dockerfile").read_text()


def test_serving_image_copies_existing_paths_and_only_the_plain_core():
    copied = []
    for line in SERVING_DOCKERFILE.splitlines():
        if line.startswith("COPY "):
            *sources, _dest = line.split()[1:]
            copied.extend(sources)
    for source in copied:
        assert (REPO / source).exists(), f"serving/Dockerfile copies {source}, which is not in the repo"
    assert not any(s.startswith("pricing_assets/assets") or s == "pricing_assets" for s in copied)


def test_serving_requirements_are_pinned_like_the_project_and_hold_no_dagster():
    requirements = [
        line.strip() for line in (REPO / "serving" / "requirements.txt").read_text().splitlines() if "==" in line
    ]
    pyproject = (REPO / "pyproject.toml").read_text()
    for requirement in requirements:
        assert f'"{requirement}"' in pyproject, f"{requirement} differs from pyproject.toml"
    assert not any(r.startswith(("dagster", "evidently", "shap")) for r in requirements)


def test_serving_image_runs_the_api_module_and_its_page_exists():
    cmd = json.loads(re.search(r"^CMD (.+)$", SERVING_DOCKERFILE, re.M).group(1))
    assert cmd[:3] == ["python", "-m", "serving"]
    assert importlib.util.find_spec("serving.__main__") is not None
    assert (REPO / "serving" / "static" / "index.html").exists()
