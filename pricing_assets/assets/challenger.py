"""The challenger comparison of a stockcode and the blocking check ``candidate_no_worse_than_serving``."""

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    MetadataValue,
    Output,
    asset,
    asset_check,
)

from ..core import bundle, challenger, splits
from ..core.models import BASELINES, load_model
from ..core.stockcodes import validate_stockcode
from ..core.store import ArtifactNotFoundError, ArtifactStore
from ..partitions import stockcode_partitions
from ..resources import ArtifactStoreResource
from .common import SettingsConfig, code_version_of, setting
from .models import load_candidate, load_champion
from .transactions import GROUP


class ChallengerGateConfig(SettingsConfig):
    """The challenger gate's tolerance and minimum rows (settings, see common.setting)."""

    tolerance: float = setting("challenger_tolerance")
    min_rows: int = setting("challenger_min_rows")


def serving_score(
    store: ArtifactStore, stock_code: str, test_rows: pd.DataFrame
) -> tuple[challenger.ServingScore | None, str]:
    """The bundle serving now, scored on the candidate's test rows (None when nothing is promoted), and
    what of it is damaged, in words ("" when nothing is).

    What the serving model saw ends where its test split began (``data_window`` in its manifest).
    A bundle that cannot score today's weekly rows (one promoted before them) says why, and the
    candidate is judged against the baselines. So is one whose pointer, manifest or files fail
    verification: serving refuses it, so no sound bundle serves the stockcode. Raising here instead
    would fail every later run at this step, and the damaged bundle could never be replaced by the
    promotion its own error message asks for.
    """
    try:
        loaded = bundle.read_bundle(store, stock_code)
    except ArtifactNotFoundError as exc:
        if not store.exists(bundle.pointer_key(stock_code)):
            return None, ""
        damage = f"the manifest its promotion pointer names is missing ({exc.args[0] if exc.args else exc})"
        return _damaged(store, stock_code, damage), damage
    except (bundle.BundleIntegrityError, ValueError, KeyError) as exc:  # ValueError: a manifest that is not JSON
        damage = str(exc) if isinstance(exc, bundle.BundleIntegrityError) else f"its manifest cannot be read ({exc})"
        return _damaged(store, stock_code, damage), damage
    manifest = loaded.manifest
    champion = manifest["champion"]
    window = manifest.get("data_window") or {}
    if not window.get("test_start"):
        return challenger.ServingScore(
            manifest["version"], champion, pd.Timestamp.max, None, "its manifest does not say what data it saw"
        ), ""
    seen_until = pd.Timestamp(window["test_start"])
    try:
        model = load_model(champion, loaded.model_files(champion))
        preprocessor = splits.Preprocessor.from_json(loaded.files["preprocessor.json"])
        predictions = np.asarray(model.predict_log(preprocessor.transform(test_rows)), dtype=float)
    except (ValueError, KeyError, bundle.BundleIntegrityError) as exc:
        return challenger.ServingScore(manifest["version"], champion, seen_until, None, str(exc)), ""
    return challenger.ServingScore(manifest["version"], champion, seen_until, predictions), ""


def _damaged(store: ArtifactStore, stock_code: str, damage: str) -> challenger.ServingScore:
    """A damaged serving bundle as one that cannot be scored: the candidate is judged as at a first promotion."""
    try:
        version = bundle.read_pointer(store, stock_code)["version"]
    except bundle.BundleIntegrityError:
        version = "(pointer unreadable)"
    problem = f"it is damaged and serving refuses it ({damage}); a promotion now replaces it"
    return challenger.ServingScore(version, "", pd.Timestamp.max, None, problem)


@asset(
    partitions_def=stockcode_partitions,
    group_name=GROUP,
    code_version=code_version_of(challenger),
    description=(
        "The candidate champion's RMSLE against the serving bundle's on the newest weekly rows neither "
        "was trained or selected on (the candidate's test rows after the serving model's own test "
        "start), with the baselines' beside them; with no serving bundle to compare, the candidate "
        "against the baselines. Checked by candidate_no_worse_than_serving."
    ),
)
def challenger_comparison(
    context: AssetExecutionContext,
    config: ChallengerGateConfig,
    training_splits: pd.DataFrame,
    model_evaluation: dict,
    preprocessor: dict,
    store: ArtifactStoreResource,
) -> Output[dict]:
    stock_code = validate_stockcode(context.partition_key)
    artifact_store = store.get_store()
    champion, model, fitted = load_champion(artifact_store, model_evaluation, preprocessor)
    test_rows = training_splits[training_splits[splits.SPLIT_COLUMN] == "test"].reset_index(drop=True)
    data = splits.design_matrices(training_splits, fitted, ("test",))
    baselines = {
        kind: np.asarray(
            load_candidate(artifact_store, model_evaluation["candidates"][kind]).predict_log(data.x["test"]),
            dtype=float,
        )
        for kind in BASELINES
        if kind in model_evaluation["candidates"]
    }
    serving, damaged = serving_score(artifact_store, stock_code, test_rows)
    if damaged:
        context.log.warning(
            f"the serving bundle of {stock_code} is damaged, so nothing sound serves it: {damaged}; "
            "the candidate is judged against the baselines, as at a first promotion, and replaces it if promoted"
        )
    result = challenger.challenge(
        test_rows,
        data.y["test"],
        champion,
        np.asarray(model.predict_log(data.x["test"]), dtype=float),
        baselines,
        serving,
        challenger.ChallengerConfig(config.tolerance, config.min_rows),
    )
    (context.log.info if result.passed else context.log.warning)(result.reason)
    metadata: dict[str, object] = {
        "passed": MetadataValue.bool(result.passed),
        "basis": MetadataValue.text(result.basis),
        "candidate_rmsle": MetadataValue.float(result.candidate_rmsle),
        "window_rows": MetadataValue.int(result.window_rows),
        "window": MetadataValue.text(f"{result.window[0]} to {result.window[1]}"),
        "baseline_rmsle": MetadataValue.json(result.baseline_rmsle),
        "reason": MetadataValue.text(result.reason),
    }
    if result.serving_rmsle is not None:
        metadata["serving_rmsle"] = MetadataValue.float(result.serving_rmsle)
    if result.serving_version:
        metadata["serving_version"] = MetadataValue.text(result.serving_version)
    if damaged:
        metadata["serving_damaged"] = MetadataValue.text(damaged)
    # What the candidate saw ends where its test split begins: the next challenger compares from there.
    data_window = {
        "train_start": str(training_splits["week"].min()),
        "test_start": str(test_rows["week"].min()),
        "data_end": str(test_rows["week"].max()),
    }
    return Output({**result.to_dict(), "data_window": data_window}, metadata=metadata)


@asset_check(
    asset=challenger_comparison,
    blocking=True,
    partitions_def=stockcode_partitions,
    description=(
        "Passes when the candidate's demand forecast error (RMSLE) on the newest weekly rows neither model "
        "saw is no worse than the serving bundle's, within PRICING_CHALLENGER_TOLERANCE (else ERROR, blocks: "
        "the serving bundle stays); on a first promotion, when it is no worse than every baseline: ERROR "
        "(blocks) when surely worse (the 95 % interval of the RMSLE ratio, bootstrapped over the test weeks, "
        "wholly beyond the tolerance), WARN (promotes) when worse but not surely."
    ),
)
def candidate_no_worse_than_serving(challenger_comparison: dict) -> AssetCheckResult:
    metadata: dict[str, object] = {
        "reason": MetadataValue.text(challenger_comparison["reason"]),
        "basis": MetadataValue.text(challenger_comparison["basis"]),
        "candidate_rmsle": MetadataValue.float(float(challenger_comparison["candidate_rmsle"])),
        "baseline_rmsle": MetadataValue.json(challenger_comparison["baseline_rmsle"]),
        "window_rows": MetadataValue.int(int(challenger_comparison["window_rows"])),
        "tolerance": MetadataValue.float(float(challenger_comparison["tolerance"])),
    }
    if challenger_comparison["serving_rmsle"] is not None:
        metadata["serving_rmsle"] = MetadataValue.float(float(challenger_comparison["serving_rmsle"]))
        metadata["serving_version"] = MetadataValue.text(str(challenger_comparison["serving_version"]))
    if challenger_comparison.get("baseline_ratio_interval"):
        metadata["baseline_ratio_interval_95"] = MetadataValue.json(challenger_comparison["baseline_ratio_interval"])
    return AssetCheckResult(
        passed=bool(challenger_comparison["passed"]),
        severity=AssetCheckSeverity.ERROR if challenger_comparison["blocks"] else AssetCheckSeverity.WARN,
        metadata=metadata,
        description=challenger_comparison["reason"],
    )
