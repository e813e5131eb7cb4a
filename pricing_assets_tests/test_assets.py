import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance

from pricing_assets.core.store import LocalArtifactStore
from pricing_assets.core.synthetic import SyntheticConfig, generate

from .components import chromium_path, require
from .helpers import materialize_raw, materialize_stockcode, shifted_source_file


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as inst:
        yield inst


def top_stockcode() -> str:
    raw, _ = generate(SyntheticConfig(seed=7, n_products=4))
    return raw["StockCode"].value_counts().index[0]


def test_data_assets_and_drift_check_for_a_stockcode(instance, settings):
    assert materialize_raw(instance, settings).success
    code = top_stockcode()
    result = materialize_stockcode(instance, settings, code)
    assert result.success
    evaluation = result.get_asset_check_evaluations()[0]
    assert evaluation.check_name == "no_feature_drift" and evaluation.passed
    assert evaluation.partition == code
    store = LocalArtifactStore(settings.artifact_root)
    for asset in ("cleaned_transactions", "demand_features"):
        assert store.exists(f"assets/{asset}/{code}.parquet")
    assert store.exists(f"assets/drift_report/{code}.json")
    html = list((settings.artifact_root / "reports" / "drift_report" / code).glob("*.html"))
    assert len(html) == 1
    assert_drift_page_draws_with_the_shared_library(html[0], settings.artifact_root)
    # Every asset reports rows, date range, content hash and a code version.
    for asset in ("cleaned_transactions", "demand_features"):
        event = instance.get_latest_materialization_event(AssetKey(asset))
        meta = event.asset_materialization.metadata
        assert {"rows", "date_from", "date_to", "content_hash"} <= set(meta)
        assert event.asset_materialization.partition == code
    cleaned = instance.get_latest_materialization_event(AssetKey("cleaned_transactions")).asset_materialization
    assert cleaned.metadata["dropped_cancellation"].value > 0


def assert_drift_page_draws_with_the_shared_library(page, root) -> None:
    """The stored page is small, and opened from the store's folder Evidently draws its dashboard."""
    import evidently
    from evidently.legacy.utils.dashboard import STATIC_PATH

    assert page.stat().st_size < 500_000  # the whole page, script inlined, is 3.7 MB
    library = root / "reports" / "evidently" / evidently.__version__ / "index.js"
    assert library.read_bytes() == (Path(STATIC_PATH) / "index.js").read_bytes()
    require("chromium")
    command = [str(chromium_path()), "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000"]
    dom = subprocess.run([*command, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    drawn = re.search(r'<div id="root_metric_\w+">(.*?)</body>', dom, flags=re.S)
    assert drawn and drawn.group(1).count("MuiPaper") >= 5, "the page loaded without Evidently's script"


def test_ground_truth_is_kept_for_later_scoring(instance, settings):
    materialize_raw(instance, settings)
    store = LocalArtifactStore(settings.artifact_root)
    truth = pd.read_parquet(settings.artifact_root / "artifacts/raw_transactions/ground_truth.parquet")
    assert {"stock_code", "shape", "optimal_price"} <= set(truth.columns) and len(truth) == 4
    assert store.exists("artifacts/raw_transactions/stockcode_history.parquet")


def test_drift_check_blocks_on_shifted_data(instance, settings, tmp_path):
    path, code = shifted_source_file(tmp_path)
    assert materialize_raw(instance, settings, source="uci", data=str(path)).success
    result = materialize_stockcode(instance, settings, code, raise_on_error=False)
    evaluation = result.get_asset_check_evaluations()[0]
    # Every recent line turned into a guest checkout: registered customers vanished, a broken feed.
    assert not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR
    assert evaluation.metadata["blocking_failures"].value == ["customer_mix"]
    assert evaluation.metadata["blocks_promotion"].value is True
    assert "registered lines vanished" in evaluation.description
    # The report itself is kept (a failed check leaves the checked asset in storage).
    assert (settings.artifact_root / "assets/drift_report" / f"{code}.json").exists()


def test_hostile_partition_key_is_refused_before_storage(instance, settings):
    materialize_raw(instance, settings)
    with pytest.raises(ValueError, match="invalid stockcode"):
        materialize_stockcode(instance, settings, "../x")
    assert not (settings.artifact_root / "x.parquet").exists()


def test_training_splits_fits_the_preprocessor_on_train_rows_only():
    """Through the asset, as a run hands it on: poisoning every validation and test row of its input (the
    weekly rows per price list) leaves the preprocessor byte-identical, and it has seen exactly the train rows."""
    from dagster import build_asset_context

    from pricing_assets.assets.training import SplitsConfig, training_splits
    from pricing_assets.core import cleaning, price_list, sources, splits, weekly_features

    source = sources.load_source("synthetic", None, 7, 4)
    code = source.transactions["stock_code"].value_counts().index[0]
    panel = price_list.weekly_demand(cleaning.clean_transactions(source.transactions, code)[0])
    weekly = weekly_features.build_weekly_features(panel, -1.5)

    def split_and_fit(frame: pd.DataFrame) -> tuple[bytes, pd.DataFrame]:
        outputs = {o.output_name: o.value for o in training_splits(build_asset_context(), SplitsConfig(), frame)}
        output, data = outputs["training_splits"], splits.Preprocessor.from_dict(outputs["preprocessor"]).to_json()
        assert splits.Preprocessor.from_json(data).fitted_rows == int((output[splits.SPLIT_COLUMN] == "train").sum())
        return data, output

    clean, split = split_and_fit(weekly)
    assert set(split[splits.SPLIT_COLUMN]) == set(splits.SPLITS)
    # A week's rows (one per price list) never straddle a boundary.
    assert (split.groupby("week")[splits.SPLIT_COLUMN].nunique() == 1).all()
    later = weekly["week"] >= split.loc[split[splits.SPLIT_COLUMN] != "train", "week"].min()
    assert 0 < later.sum() < len(weekly)
    poisoned = weekly.copy()
    for column in weekly_features.NUMERIC_FEATURES:
        poisoned.loc[later, column] = poisoned.loc[later, column] * 1000.0 + 7.0
    poisoned.loc[later, "customer_type"] = "never-seen"
    assert split_and_fit(poisoned)[0] == clean
