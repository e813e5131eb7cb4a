"""A damaged promotion (pointer, manifest or file) blocks nothing: the challenger judges the candidate as
at a first promotion, status names the damage, and ``pricing run --all`` redoes the stockcode."""

import re

import numpy as np
import pandas as pd
import pytest
from dagster import instance_for_test

from pricing_assets.assets.challenger import serving_score
from pricing_assets.core import challenger
from pricing_assets.core.bundle import pointer_key, write_bundle
from pricing_assets.core.store import LocalArtifactStore
from pricing_assets.outcomes import serving_pointer
from pricing_assets.schedules import rerun_reasons

CODE = "86140"
FILES = {
    "models/lightgbm/model.txt": b"trees",
    "models/elasticnet/model.npz": b"coefficients",
    "preprocessor.json": b"{}",
}
MANIFEST = {"champion": "lightgbm", "fallback_chain": ["elasticnet"], "data_window": {"test_start": "2011-09-05"}}
ROWS = pd.DataFrame({"week": pd.date_range("2011-09-05", periods=10, freq="W-MON").repeat(2)})


def promoted(tmp_path) -> tuple[LocalArtifactStore, dict]:
    store = LocalArtifactStore(tmp_path)
    return store, write_bundle(store, CODE, FILES, MANIFEST, run_id="aaaaaaaa-1")


def truncate_pointer(store: LocalArtifactStore, _pointer: dict) -> str:
    path = store.root / pointer_key(CODE)
    path.write_bytes(path.read_bytes()[:20])
    return "is not valid JSON"


def pointer_without_version(store: LocalArtifactStore, _pointer: dict) -> str:
    (store.root / pointer_key(CODE)).write_text('{"manifest_key": "x", "manifest_sha256": "y"}')
    return "does not name its version"


def delete_manifest(store: LocalArtifactStore, pointer: dict) -> str:
    (store.root / pointer["manifest_key"]).unlink()
    return "manifest its promotion pointer names is missing"


def truncate_fallback(store: LocalArtifactStore, pointer: dict) -> str:
    folder = store.root / pointer["manifest_key"].rsplit("/", 1)[0]
    (folder / "models/elasticnet/model.npz").write_bytes(b"coef")
    return "models/elasticnet/model.npz of 86140 .* fails its SHA-256 check"


@pytest.mark.parametrize("damage", [truncate_pointer, pointer_without_version, delete_manifest, truncate_fallback])
def test_a_damaged_serving_bundle_is_judged_as_a_first_promotion(tmp_path, damage):
    """Before, read_bundle's error stopped challenger_comparison, so the promotion that would mend the
    stockcode (the one its message asks for) could never happen."""
    store, pointer = promoted(tmp_path)
    expected = damage(store, pointer)
    score, damaged = serving_score(store, CODE, ROWS)
    assert score is not None and score.predictions is None
    assert re.search(expected, damaged), damaged
    assert "damaged and serving refuses it" in score.problem and "replaces it" in score.problem
    truth = np.full(len(ROWS), 2.0)
    baselines = {"recent_mean_baseline": truth + 0.5, "seasonal_naive_baseline": truth + 0.4}
    result = challenger.challenge(
        ROWS, truth, "dfn", truth + 0.1, baselines, score, challenger.ChallengerConfig(0.02, 8)
    )
    assert result.basis == "baselines" and result.passed and "damaged" in result.reason


def test_nothing_promoted_is_still_a_first_promotion(tmp_path):
    assert serving_score(LocalArtifactStore(tmp_path), CODE, ROWS) == (None, "")


@pytest.mark.parametrize("damage", [truncate_pointer, pointer_without_version])
def test_status_names_a_damaged_pointer_and_its_fix(tmp_path, damage):
    store, pointer = promoted(tmp_path)
    assert serving_pointer(store, CODE) == (pointer["version"], "")
    damage(store, pointer)
    version, refused = serving_pointer(store, CODE)
    assert version is None and f"promote {CODE} again (pricing run --stockcodes {CODE})" in refused
    assert serving_pointer(LocalArtifactStore(tmp_path / "empty"), CODE) == (None, "")


def status_row(**changes) -> dict:
    row = {"status": "SUCCESS", "checks": {}, "check_severity": {}, "check_reasons": {}, "error": ""}
    row.update(promoted="v1", promoted_in_last_run=True, serving_refused="")
    return {**row, **changes}


def test_run_all_redoes_a_stockcode_whose_promotion_serving_cannot_use():
    with instance_for_test() as instance:

        def reasons(row: dict) -> list[str]:
            return rerun_reasons(instance, {}, CODE, "f" * 24, row)

        assert not any("serv" in r for r in reasons(status_row()))
        refused = reasons(status_row(promoted=None, serving_refused="the promotion pointer ... is not valid JSON"))
        assert "serving refuses its promotion (the promotion pointer ... is not valid JSON)" in refused
        gone = reasons(status_row(promoted=None))
        assert any("promotion pointer is gone" in r for r in gone)
        # A stockcode that was never promoted (a first promotion held by a check) has no pointer to miss.
        assert not any("serv" in r for r in reasons(status_row(promoted=None, promoted_in_last_run=False)))
