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
