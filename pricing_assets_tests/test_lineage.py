"""The whole per-stockcode lineage through Dagster: promotion, reproducibility, leakage, gates."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance, build_asset_context

from pricing_assets.assets.demand_forecast import ForecastConfig, demand_forecast
from pricing_assets.assets.models import MODEL_ASSET_NAMES
from pricing_assets.core import pricing, splits
from pricing_assets.core.bundle import read_bundle
from pricing_assets.core.forecast import forecast_next_week
from pricing_assets.core.models import BASELINES, load_model
from pricing_assets.core.recommendation_inputs import RecommendationInputs
from pricing_assets.core.store import LocalArtifactStore, frame_to_parquet, sha256_hex
from pricing_assets.core.weekly_features import NUMERIC_FEATURES, TARGET
from pricing_assets.definitions import LINEAGE_JOB, build_definitions
from pricing_assets.partitions import register_stockcodes
from pricing_assets.resources import ArtifactStoreResource, S3ClientResource
from pricing_assets.settings import Settings

from .conftest import isolated_settings
from .helpers import (
    PROMOTED_RANK,
    guests_buy_more_lately,
    materialize_raw,
    run_lineage,
    shifted_source_file,
    source_file,
)

pytestmark = pytest.mark.slow
MODEL_CARDS = tuple(MODEL_ASSET_NAMES)  # every model asset: the tuned ones, the catalogue level, the baselines


def fresh_settings(folder) -> Settings:
    return isolated_settings(folder, PRICING_SYNTHETIC_PRODUCTS="4")


def stored_json(settings: Settings, asset: str, code: str) -> dict:
    return json.loads((settings.artifact_root / "assets" / asset / f"{code}.json").read_text())


def materialized_metadata(result) -> dict:
    return {
        "/".join(e.asset_key.path): e.step_materialization_data.materialization.metadata
        for e in result.get_asset_materialization_events()
    }


@pytest.fixture(scope="module")
def promoted(tmp_path_factory):
    """One synthetic stockcode taken from raw data to a promoted bundle (the most active one the challenger
    promotes at its first promotion, see helpers.PROMOTED_RANK)."""
    settings = fresh_settings(tmp_path_factory.mktemp("first"))
    with DagsterInstance.ephemeral() as instance:
        assert materialize_raw(instance, settings).success
        history = pd.read_parquet(settings.artifact_root / "artifacts/raw_transactions/stockcode_history.parquet")
        code = history.sort_values("rows", ascending=False)["stock_code"].iloc[PROMOTED_RANK]
        result = run_lineage(instance, settings, code)
        yield settings, code, result, instance


def test_raw_to_promoted_with_a_verifiable_lineage_manifest(promoted):
    settings, code, result, instance = promoted
    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    checks = {name: e.passed for name, e in evaluations.items()}
    assert set(checks) == {"no_feature_drift", "fairness_within_threshold", "candidate_no_worse_than_serving"}
    assert checks["no_feature_drift"] and checks["fairness_within_threshold"]
    # A first promotion is judged against the baselines on a few test weeks: it passes, or it is worse by the
    # point estimate but not surely, a warning that does not block (core/challenger.py). Promoted either way.
    challenger = evaluations["candidate_no_worse_than_serving"]
    assert challenger.passed or challenger.severity == AssetCheckSeverity.WARN
    bundle = read_bundle(LocalArtifactStore(settings.artifact_root), code)  # verifies every SHA-256
    manifest = bundle.manifest
    assert manifest["run_id"] == result.run_id and manifest["stock_code"] == code
    assert manifest["champion"] not in BASELINES and manifest["fallback_chain"][-2:] == list(BASELINES)
    everything = {key.to_user_string() for key in build_definitions(settings).resolve_all_asset_keys()}
    # The whole graph upstream of it (the catalogue report is downstream: it summarises the promotions), the
    # weekly rows the models learned from and the forecast the recommendation was valued at included.
    assert set(manifest["upstream"]) == everything - {"promoted_model", "catalogue_report"}
    assert {"weekly_demand", "weekly_features", "price_scenario", "demand_forecast"} <= set(manifest["upstream"])
    for name, entry in manifest["upstream"].items():
        assert entry["data_version"] and entry["code_version"], name
    for name in ("demand_features", "weekly_features", "demand_forecast"):
        latest = instance.get_latest_materialization_event(AssetKey(name)).asset_materialization
        assert manifest["upstream"][name]["data_version"] == latest.tags["dagster/data_version"], name
    assert {name: outcome["passed"] for name, outcome in manifest["checks"].items()} == checks
    assert {m["kind"] for m in manifest["models"]} == {manifest["champion"], *manifest["fallback_chain"]}
    # The champion, the models' mean, carries its composition and each member's own files: those the
    # member is bundled with as a fallback, stored once (no second copy under models/ensemble/).
    assert manifest["champion"] == "ensemble"
    mean = bundle.model_files("ensemble")
    members = json.loads(mean["ensemble.json"])["members"]
    # Every single model and both baselines (ENSEMBLE_MEMBERS), all of them fallbacks too.
    assert sorted(members) == sorted([*(k for k in manifest["fallback_chain"] if k not in BASELINES), *BASELINES])
    assert set(members) == set(manifest["fallback_chain"])  # every fallback is a member
    assert set(mean) == {"ensemble.json", *(f"{m}/{name}" for m in members for name in bundle.model_files(m))}
    assert all(mean[f"{m}/{name}"] == blob for m in members for name, blob in bundle.model_files(m).items())
    assert [name for name in bundle.files if name.startswith("models/ensemble/")] == ["models/ensemble/ensemble.json"]
    assert bundle.manifest["models"][0]["files"]["lightgbm/model.txt"] == "models/lightgbm/model.txt"
    assert {"preprocessor.json", "scenario.parquet", "price_curve.parquet", "recommendation.json"} <= set(bundle.files)
    # The price the manifest calls optimal is the recommendation's best list price in the guardrail band.
    recommendation = json.loads(bundle.files["recommendation.json"])
    assert recommendation["forecast_model"] == manifest["champion"]  # valued at the champion's forecast
    assert "forecast_model" not in manifest["recommendation"]  # recorded, not part of the served answer
    assert manifest["pricing"]["optimal_price"] == recommendation["best_list_price_in_band"]
    assert manifest["pricing"]["objective"] == recommendation["objective"] == "margin"
    low, high = recommendation["guardrail"]
    assert manifest["pricing"]["price_min"] == pytest.approx(low) and manifest["pricing"]["price_max"] == pytest.approx(
        high
    )
    assert low <= manifest["pricing"]["optimal_price"] <= high
    for model in manifest["models"]:  # what serving needs to forecast with a fallback: residuals, forecast scores
        assert model["validation_residuals"] and set(model["forecast"]) == {"validation", "test"}, model["kind"]
    # A first promotion is judged against the baselines; the next one starts comparing where this one's test began.
    assert manifest["challenger"]["basis"] == "baselines" and manifest["challenger"]["serving_rmsle"] is None
    assert manifest["data_window"]["test_start"] <= manifest["data_window"]["data_end"]


def test_the_bundle_alone_reproduces_the_price_curve(promoted):
    """Serving needs nothing but the bundle: the recommendation's inputs give the same curve, and so does the
    champion forecasting the bundled week (scenario) again with its preprocessor and validation residuals."""
    settings, code, _, _ = promoted
    bundle = read_bundle(LocalArtifactStore(settings.artifact_root), code)
    champion = bundle.manifest["champion"]
    model = load_model(champion, bundle.model_files(champion))
    preprocessor = splits.Preprocessor.from_json(bundle.files["preprocessor.json"])
    scenario = pd.read_parquet(pd.io.common.BytesIO(bundle.files["scenario.parquet"]))
    stored = pd.read_parquet(pd.io.common.BytesIO(bundle.files["price_curve.parquet"]))
    answer = json.loads(bundle.files["recommendation.json"])
    inputs = RecommendationInputs.from_dict(answer["inputs"])
    prices = stored["unit_price"].to_numpy()
    pd.testing.assert_frame_equal(pricing.list_price_curve(inputs, prices), stored, check_exact=False, rtol=1e-9)
    residuals = {m["kind"]: m["validation_residuals"] for m in bundle.manifest["models"]}
    again = pricing.predict_curve(model, preprocessor, scenario, inputs, residuals[champion], prices)
    assert again.model == champion
    pd.testing.assert_frame_equal(again.curve, stored, check_exact=False, rtol=1e-9)
    # The week to forecast: one row per price list, the week after the last, at the list now in force.
    assert sorted(scenario["customer_type"]) == ["guest", "registered"] and scenario["week"].nunique() == 1
    assert (scenario["reference_list_price"] == inputs.mix.current_list_price).all()
    for fallback in bundle.manifest["fallback_chain"]:
        fallback_model = load_model(fallback, bundle.model_files(fallback))
        assert np.isfinite(fallback_model.predict_log(preprocessor.transform(scenario))).all()
        forecast = forecast_next_week(fallback_model, preprocessor, scenario, residuals[fallback], inputs.config.seed)
        assert forecast.units >= 0 and forecast.model == fallback


def test_a_champion_forecasting_implausibly_gives_way_to_the_next_model(promoted, tmp_path):
    """demand_forecast walks the fallback chain as serving does. An ElasticNet file with an intercept of 2000
    (a log near 1000 once averaged with the four-week mean: finite, far above the product's history) made
    champion is skipped as implausible; the models' mean, whose card still holds the file's old SHA-256, is
    skipped because it fails to load; the next model forecasts. The assets' stored values are copied, not changed."""
    settings, code, _, _ = promoted
    source, copy = LocalArtifactStore(settings.artifact_root), LocalArtifactStore(tmp_path)
    evaluation = stored_json(settings, "model_evaluation", code)
    for card in evaluation["candidates"].values():
        for entry in card["files"].values():
            copy.put_bytes(entry["key"], source.get_bytes(entry["key"]))
    entry = evaluation["candidates"]["elasticnet"]["files"]["model.json"]
    broken = json.dumps(json.loads(source.get_bytes(entry["key"])) | {"intercept": 2000.0}).encode()
    copy.put_bytes(entry["key"], broken)
    entry["sha256"] = sha256_hex(broken)
    chain = ["ensemble", *(kind for kind in evaluation["fallback_chain"] if kind not in ("elasticnet", "ensemble"))]
    evaluation.update(champion="elasticnet", fallback_chain=chain)
    scenario = pd.read_parquet(settings.artifact_root / "assets" / "price_scenario" / f"{code}.parquet")
    context = build_asset_context(partition_key=code)
    output = demand_forecast(
        context,
        ForecastConfig(seed=settings.seed),
        price_scenario=scenario,
        model_evaluation=evaluation,
        preprocessor=stored_json(settings, "preprocessor", code),
        store=ArtifactStoreResource(local_root=str(tmp_path), s3=S3ClientResource()),
    )
    assert output.value["model"] == chain[1] and output.metadata["model"].value == chain[1]
    skipped = output.metadata["skipped_models"].value
    assert list(skipped) == ["elasticnet", "ensemble"]
    assert "model outside the weeks it learned from" in skipped["elasticnet"]
    assert "does not match the SHA-256" in skipped["ensemble"]
    assert 0 <= output.value["registered_units"] + output.value["guest_units"] < 1e6


def test_the_price_curve_is_drawn_from_the_recommendation(promoted):
    """Weekly units, revenue and margin over list prices across the guardrail band (unit_price is the list
    price), with 95 % bands; demand never rises with the list price; its best margin is the recommendation's
    best price in the band; the recommendation table and plot are in its metadata."""
    settings, code, result, _ = promoted
    metadata = materialized_metadata(result)
    curve = pd.read_parquet(settings.artifact_root / "assets" / "price_curve" / f"{code}.parquet")
    answer = json.loads((settings.artifact_root / "assets" / "list_price_recommendation" / f"{code}.json").read_text())
    assert list(curve.columns) == list(pricing.CURVE_COLUMNS) and len(curve) == settings.price_bins
    low, high = answer["guardrail"]
    assert curve["unit_price"].iloc[0] == pytest.approx(low) and curve["unit_price"].iloc[-1] == pytest.approx(high)
    assert (np.diff(curve["quantity"]) <= 1e-9).all()  # never more units at a higher list price
    for measure in ("quantity", "sales", "margin"):
        assert (curve[f"{measure}_low"] <= curve[measure] + 1e-9).all(), measure
        assert (curve[measure] <= curve[f"{measure}_high"] + 1e-9).all(), measure
    step = float(curve["unit_price"].diff().iloc[1])
    best = float(curve.loc[curve["margin"].idxmax(), "unit_price"])
    assert abs(best - answer["best_list_price_in_band"]) <= step + 0.011
    # At the current list, the curve's weekly units are next week's forecast (demand_forecast).
    forecast = json.loads((settings.artifact_root / "assets" / "demand_forecast" / f"{code}.json").read_text())
    at_current = np.interp(answer["current_list_price"], curve["unit_price"], curve["quantity"])
    units = forecast["registered_units"] + forecast["guest_units"]
    assert at_current == pytest.approx(units, rel=0.02)
    shown = metadata["price_curve"]
    assert "optimal_price" not in shown and "optimum_on_edge" not in shown
    assert shown["objective"].value == "margin" and shown["price_range"].value == f"{low:.2f} to {high:.2f}"
    table = shown["recommendation"].value
    assert f"| {answer['current_list_price']:.2f} | {answer['recommended_list_price']:.2f} |" in table
    assert shown["plot"].value.startswith("![price curve](data:image/png;base64,")


def test_every_stage_reports_what_it_did(promoted):
    settings, code, result, _ = promoted
    metadata = materialized_metadata(result)
    weekly = metadata["weekly_features"]
    assert weekly["target"].value == TARGET and weekly["features"].value["numeric"] == list(NUMERIC_FEATURES)
    assert weekly["rows"].value % 2 == 0  # a row per week and price list
    assert metadata["training_splits"]["train_rows"].value > metadata["training_splits"]["test_rows"].value > 0
    assert metadata["training_splits"]["test_rows"].value >= settings.split_min_rows
    assert metadata["dfn_model"]["trials_run"].value == 2
    evaluation_shown = metadata["model_evaluation"]
    assert "champion" in evaluation_shown["metrics"].value and "test WAPE" in evaluation_shown["weekly_forecast"].value
    champion = stored_json(settings, "model_evaluation", code)["champion"]
    wape = stored_json(settings, "model_evaluation", code)["forecast"][champion]["test"]["wape"]
    assert evaluation_shown["champion_test_weekly_wape"].value == pytest.approx(wape)
    assert set(evaluation_shown["beats_baselines_on_test"].value) == set(BASELINES)
    forecast = metadata["demand_forecast"]
    assert forecast["model"].value == champion
    assert forecast["expected_units"].value == pytest.approx(
        forecast["registered_units"].value + forecast["guest_units"].value, abs=0.01
    )
    assert metadata["shap_explanations"]["plot"].value.startswith("![SHAP importance](data:image/png;base64,")
    assert (settings.artifact_root / f"artifacts/shap_explanations/{code}/importance.png").read_bytes()[
        :4
    ] == b"\x89PNG"
    assert {"registered", "guest"} <= set(metadata["fairness_report"]["groups"].value.split())
    evaluation = stored_json(settings, "model_evaluation", code)
    assert evaluation["selected_on"] == "validation" and set(evaluation["metrics"]) == set(evaluation["candidates"])


def test_same_inputs_code_and_seed_give_identical_artifact_hashes(promoted, tmp_path):
    settings, code, _, _ = promoted
    other = fresh_settings(tmp_path)
    with DagsterInstance.ephemeral() as instance:
        assert materialize_raw(instance, other).success
        assert run_lineage(instance, other, code).success
    first = read_bundle(LocalArtifactStore(settings.artifact_root), code).manifest
    second = read_bundle(LocalArtifactStore(other.artifact_root), code).manifest
    assert first["artifacts"] == second["artifacts"]
    assert first["version"].split("-")[0] == second["version"].split("-")[0]
    for card in MODEL_CARDS:
        assert stored_json(settings, card, code)["files"] == stored_json(other, card, code)["files"]


def test_the_test_split_is_never_seen_by_training_tuning_or_choice(promoted, tmp_path):
    """Poison every test row after the features are built: nothing before evaluation may change."""
    settings, code, _, _ = promoted
    other = fresh_settings(tmp_path)
    with DagsterInstance.ephemeral() as instance:
        assert materialize_raw(instance, other).success
        job = build_definitions(other).resolve_job_def(LINEAGE_JOB)
        register_stockcodes(instance, [code])
        upstream = [
            AssetKey(n)
            for n in (
                "cleaned_transactions",
                "demand_features",
                "drift_report",
                "weekly_demand",
                "stockcode_price_response",
                "weekly_features",
            )
        ]
        assert job.execute_in_process(instance=instance, partition_key=code, asset_selection=upstream).success
        path = other.artifact_root / "assets" / "weekly_features" / f"{code}.parquet"
        features = pd.read_parquet(path)
        ordered = splits.split_chronologically(features, splits.SplitConfig.from_settings(other))
        test_rows = ordered.pop(splits.SPLIT_COLUMN).eq("test").to_numpy()
        assert 0 < test_rows.sum() < len(ordered)
        for column in NUMERIC_FEATURES:
            ordered.loc[test_rows, column] = ordered.loc[test_rows, column] * 7.0 + 3.0
        ordered.loc[test_rows, TARGET] = ordered.loc[test_rows, TARGET] + 2.5
        ordered.loc[test_rows, "customer_type"] = "guest"
        path.write_bytes(frame_to_parquet(ordered))
        job = build_definitions(other).resolve_job_def(LINEAGE_JOB)
        downstream = [AssetKey(n) for n in ("training_splits", "preprocessor", *MODEL_CARDS, "model_evaluation")]
        assert job.execute_in_process(instance=instance, partition_key=code, asset_selection=downstream).success
    clean_eval, poisoned_eval = (
        stored_json(settings, "model_evaluation", code),
        stored_json(other, "model_evaluation", code),
    )
    assert stored_json(settings, "preprocessor", code) == stored_json(other, "preprocessor", code)
    for card in MODEL_CARDS:
        assert stored_json(settings, card, code)["files"] == stored_json(other, card, code)["files"], card
        clean_tuning, poisoned_tuning = (
            stored_json(settings, card, code)["tuning"],
            stored_json(other, card, code)["tuning"],
        )
        clean_tuning.pop("seconds", None), poisoned_tuning.pop("seconds", None)
        assert clean_tuning == poisoned_tuning, card  # same trials, same scores, same best epoch
    assert clean_eval["champion"] == poisoned_eval["champion"]
    # the champion is the models' mean: the same members, the same weights, the same validation score
    assert clean_eval["candidates"]["ensemble"]["tuning"] == poisoned_eval["candidates"]["ensemble"]["tuning"]
    assert clean_eval["metrics"]["ensemble"]["validation"] == poisoned_eval["metrics"]["ensemble"]["validation"]
    assert clean_eval["fallback_chain"] == poisoned_eval["fallback_chain"]
    for kind in clean_eval["metrics"]:
        assert clean_eval["metrics"][kind]["validation"] == poisoned_eval["metrics"][kind]["validation"]
        assert clean_eval["metrics"][kind]["test"] != poisoned_eval["metrics"][kind]["test"]  # the poison did land


def promoted_models(result) -> list:
    return [e for e in result.get_asset_materialization_events() if e.asset_key == AssetKey("promoted_model")]


def test_failed_gates_stop_promotion_and_keep_the_previous_bundle(tmp_path):
    settings = fresh_settings(tmp_path)
    store = LocalArtifactStore(settings.artifact_root)
    clean_path, code = source_file(tmp_path, stockcode_rank=PROMOTED_RANK)
    with DagsterInstance.ephemeral() as instance:
        assert materialize_raw(instance, settings, source="uci", data=str(clean_path)).success
        first = run_lineage(instance, settings, code)
        assert first.success and promoted_models(first)
        before = read_bundle(store, code)
        pointer_bytes = (settings.artifact_root / f"promoted/{code}/current.json").read_bytes()

        # 1. Drift: the product's last weeks changed price level, market and quantities.
        shifted, shifted_code = shifted_source_file(tmp_path, stockcode_rank=PROMOTED_RANK)
        assert shifted_code == code
        assert materialize_raw(instance, settings, source="uci", data=str(shifted)).success
        drifted = run_lineage(instance, settings, code)
        checks = {e.check_name: e.passed for e in drifted.get_asset_check_evaluations()}
        assert checks == {"no_feature_drift": False} and not promoted_models(drifted)

        # 2. Fairness: guests' demand changed in the test period only; drift on one column of six passes.
        unfair, _ = source_file(tmp_path, "unfair.parquet", guests_buy_more_lately, stockcode_rank=PROMOTED_RANK)
        assert materialize_raw(instance, settings, source="uci", data=str(unfair)).success
        biased = run_lineage(instance, settings, code)
        evaluations = {e.check_name: e for e in biased.get_asset_check_evaluations()}
        assert evaluations["no_feature_drift"].passed
        assert not evaluations["fairness_within_threshold"].passed
        assert "beyond" in evaluations["fairness_within_threshold"].metadata["reason"].value
        assert not promoted_models(biased)

    after = read_bundle(store, code)
    assert (settings.artifact_root / f"promoted/{code}/current.json").read_bytes() == pointer_bytes
    assert after.files == before.files and after.manifest == before.manifest


def test_promoted_model_refuses_when_materialised_alone_after_a_failed_check(tmp_path):
    """The blocking checks stop a run; a hand-picked materialisation of promoted_model is refused too."""
    settings = fresh_settings(tmp_path)
    unfair, code = source_file(tmp_path, "unfair.parquet", guests_buy_more_lately, stockcode_rank=PROMOTED_RANK)
    with DagsterInstance.ephemeral() as instance:
        assert materialize_raw(instance, settings, source="uci", data=str(unfair)).success
        assert not run_lineage(instance, settings, code).success
        job = build_definitions(settings).resolve_job_def(LINEAGE_JOB)
        alone = job.execute_in_process(
            instance=instance, partition_key=code, asset_selection=[AssetKey("promoted_model")], raise_on_error=False
        )
    assert not alone.success
    failure = next(e for e in alone.all_events if e.event_type_value == "STEP_FAILURE")
    # The failed blocking checks by name, with their reasons (the challenger may hold it too: the guests' new
    # weeks are what the recent-mean baseline follows and the tuned model does not).
    message = str(failure.step_failure_data.error.message)
    assert "not promoted: fairness_within_threshold" in message and "fairness_within_threshold: " in message
    assert "beyond" in message and "the previous bundle stays in service" in message
    assert not (settings.artifact_root / "promoted" / code).exists()
    shutil.rmtree(settings.artifact_root, ignore_errors=True)
