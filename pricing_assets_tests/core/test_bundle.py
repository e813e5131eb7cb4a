import json
import re

import pytest

from pricing_assets.core.bundle import BundleIntegrityError, pointer_key, read_bundle, read_pointer, write_bundle
from pricing_assets.core.store import LocalArtifactStore

FILES = {"models/dfn/state_dict.pt": b"weights", "preprocessor.json": b"{}", "scenario.parquet": b"rows"}


class FailingStore(LocalArtifactStore):
    """A store whose writes fail once a key matches: a crash in the middle of a promotion."""

    def __init__(self, root, fail_on: str):
        super().__init__(root)
        self.fail_on = fail_on

    def put_bytes(self, key, data):
        if self.fail_on in key:
            raise OSError(f"disk full while writing {key}")
        return super().put_bytes(key, data)


def test_round_trip_verifies_every_file(tmp_path):
    store = LocalArtifactStore(tmp_path)
    pointer = write_bundle(store, "85123A", FILES, {"champion": "dfn"}, run_id="run-1")
    bundle = read_bundle(store, "85123A")
    assert bundle.pointer == pointer and bundle.manifest["champion"] == "dfn"
    assert bundle.files == FILES and bundle.model_files("dfn") == {"state_dict.pt": b"weights"}
    assert set(bundle.manifest["artifacts"]) == set(FILES)


def test_a_tampered_file_or_manifest_is_refused(tmp_path):
    store = LocalArtifactStore(tmp_path)
    pointer = write_bundle(store, "85123A", FILES, {}, run_id="run-1")
    folder = pointer["manifest_key"].rsplit("/", 1)[0]
    (tmp_path / folder / "preprocessor.json").write_bytes(b'{"evil": 1}')
    with pytest.raises(BundleIntegrityError, match="preprocessor.json"):
        read_bundle(store, "85123A")
    pointer = write_bundle(store, "85123A", FILES, {}, run_id="run-2")
    manifest = tmp_path / pointer["manifest_key"]
    manifest.write_text(manifest.read_text().replace('"85123A"', '"22423"'))
    with pytest.raises(BundleIntegrityError, match="manifest"):
        read_bundle(store, "85123A")


@pytest.mark.parametrize("strict", [True, False])
def test_a_manifest_swapped_for_another_valid_one_is_refused(tmp_path, strict):
    """Valid JSON, every file it lists intact, the pointer untouched: only the pointer's hash of the
    manifest can tell, so serving's lenient read (``strict=False``) must check it too."""
    store = LocalArtifactStore(tmp_path)
    files = {**FILES, "models/lightgbm/model.txt": b"trees"}
    pointer = write_bundle(store, "85123A", files, {"champion": "dfn", "fallback_chain": ["lightgbm"]}, run_id="r-1")
    manifest = tmp_path / pointer["manifest_key"]
    swapped = json.loads(manifest.read_text())
    swapped.update(champion="lightgbm", fallback_chain=["dfn"])
    manifest.write_text(json.dumps(swapped, sort_keys=True, indent=2))
    with pytest.raises(BundleIntegrityError, match="manifest of 85123A .* does not match its pointer"):
        read_bundle(store, "85123A", strict=strict)


@pytest.mark.parametrize("fail_on", ["scenario.parquet", "manifest.json", "current.json"])
def test_a_promotion_that_fails_midway_leaves_the_previous_bundle_in_service(tmp_path, fail_on):
    write_bundle(LocalArtifactStore(tmp_path), "85123A", FILES, {"champion": "dfn"}, run_id="run-1")
    before = read_bundle(LocalArtifactStore(tmp_path), "85123A")
    newer = {**FILES, "models/dfn/state_dict.pt": b"new weights"}
    with pytest.raises(OSError):
        write_bundle(FailingStore(tmp_path, fail_on), "85123A", newer, {"champion": "dfn"}, run_id="run-2")
    after = read_bundle(LocalArtifactStore(tmp_path), "85123A")
    assert after.pointer == before.pointer and after.files == before.files


def test_each_promotion_gets_its_own_folder(tmp_path):
    store = LocalArtifactStore(tmp_path)
    first = write_bundle(store, "85123A", FILES, {}, run_id="aaaaaaaa-1")
    second = write_bundle(store, "85123A", FILES, {}, run_id="bbbbbbbb-2")
    assert first["version"] != second["version"]
    assert first["version"].split("-")[0] == second["version"].split("-")[0]  # same content digest
    assert (tmp_path / first["manifest_key"]).exists()
    assert json.loads((tmp_path / pointer_key("85123A")).read_text())["version"] == second["version"]


def test_hostile_stockcodes_and_reserved_names_are_refused(tmp_path):
    store = LocalArtifactStore(tmp_path)
    with pytest.raises(ValueError):
        write_bundle(store, "../x", FILES, {}, run_id="r")
    with pytest.raises(ValueError, match="manifest.json"):
        write_bundle(store, "85123A", {"manifest.json": b"{}"}, {}, run_id="r")


def test_a_file_two_models_share_is_stored_once_and_refuses_both_when_it_fails(tmp_path):
    """The models' mean names its members' files by their paths in the bundle: one copy serves the
    mean and the fallback, and a copy that fails verification refuses both (bundles before that kept
    every model's files under its own folder and still load)."""
    store = LocalArtifactStore(tmp_path)
    files = {**FILES, "models/lightgbm/model.txt": b"trees", "models/ensemble/ensemble.json": b"{}"}
    models = [
        {
            "kind": "ensemble",
            "files": {
                "ensemble.json": "models/ensemble/ensemble.json",
                "dfn/state_dict.pt": "models/dfn/state_dict.pt",
                "lightgbm/model.txt": "models/lightgbm/model.txt",
            },
        },
        {"kind": "dfn", "files": {"state_dict.pt": "models/dfn/state_dict.pt"}},
        {"kind": "lightgbm", "files": {"model.txt": "models/lightgbm/model.txt"}},
    ]
    pointer = write_bundle(store, "85123A", files, {"models": models}, run_id="run-1")
    bundle = read_bundle(store, "85123A")
    assert bundle.model_files("ensemble") == {
        "ensemble.json": b"{}",
        "dfn/state_dict.pt": b"weights",
        "lightgbm/model.txt": b"trees",
    }
    assert bundle.model_files("lightgbm") == {"model.txt": b"trees"}
    (tmp_path / pointer["manifest_key"].rsplit("/", 1)[0] / "models/dfn/state_dict.pt").write_bytes(b"rot")
    lenient = read_bundle(store, "85123A", strict=False)
    for kind in ("ensemble", "dfn"):
        with pytest.raises(BundleIntegrityError, match="models/dfn/state_dict.pt fails its SHA-256 check"):
            lenient.model_files(kind)
    assert lenient.model_files("lightgbm") == {"model.txt": b"trees"}
    older = write_bundle(store, "22423", {**FILES, "models/ensemble/dfn/state_dict.pt": b"w"}, {}, run_id="run-2")
    assert older and read_bundle(store, "22423").model_files("ensemble") == {"dfn/state_dict.pt": b"w"}


@pytest.mark.parametrize(
    "written,problem",
    [
        (None, "is not valid JSON"),  # the sound pointer cut in half
        (b"\xff\xfe{}", "is not valid JSON"),
        (b'["v1"]', "is not a JSON object"),
        (b'{"stock_code": "85123A"}', "does not name its version and manifest_key and manifest_sha256"),
        (b'{"version": 7, "manifest_key": "k", "manifest_sha256": "s"}', "does not name its version:"),
        (b'{"version": "v", "manifest_key": "", "manifest_sha256": "s"}', "does not name its manifest_key:"),
    ],
)
def test_an_unreadable_pointer_is_a_refused_bundle_that_says_how_to_mend_it(tmp_path, written, problem):
    """A pointer serving cannot use is a BundleIntegrityError (a bad bundle, like a file failing its SHA-256),
    never a JSON or KeyError that a reader would take for the store failing; the message says to promote again."""
    store = LocalArtifactStore(tmp_path)
    write_bundle(store, "85123A", FILES, {"champion": "dfn"}, run_id="run-1")
    pointer = tmp_path / pointer_key("85123A")
    pointer.write_bytes(pointer.read_bytes()[:40] if written is None else written)
    fix = "promote 85123A again (pricing run --stockcodes 85123A) to write a new one"
    for read in (read_pointer, read_bundle):
        with pytest.raises(BundleIntegrityError, match=re.escape(problem)) as refused:
            read(store, "85123A")
        assert str(refused.value).startswith("the promotion pointer promoted/85123A/current.json ")
        assert str(refused.value).endswith(fix)
