import numpy as np
import pandas as pd
import pytest

from pricing_assets.core import splits
from pricing_assets.core.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES, TARGET


def test_splits_are_chronological_and_never_cut_a_timestamp(split_frame):
    by_split = split_frame.groupby("split")["invoice_date"].agg(["min", "max", "size"])
    assert by_split.loc["train", "max"] < by_split.loc["validation", "min"]
    assert by_split.loc["validation", "max"] < by_split.loc["test", "min"]
    assert split_frame.groupby("invoice_date")["split"].nunique().max() == 1
    shares = by_split["size"] / len(split_frame)
    assert shares["train"] == pytest.approx(0.7, abs=0.02) and shares["validation"] == pytest.approx(0.15, abs=0.02)


def test_cut_off_dates(product_features):
    cfg = splits.SplitConfig(train_end="2011-06-01", validation_end="2011-09-01")
    frame = splits.split_chronologically(product_features, cfg)
    train, val, test = (frame[frame["split"] == s]["invoice_date"] for s in splits.SPLITS)
    assert train.max() < pd.Timestamp("2011-06-01") <= val.min()
    assert val.max() < pd.Timestamp("2011-09-01") <= test.min()


@pytest.mark.parametrize(
    "cfg,message",
    [
        (splits.SplitConfig(train_end="2011-06-01"), "both train_end and validation_end"),
        (splits.SplitConfig(train_end="2011-09-01", validation_end="2011-06-01"), "must be before"),
        (splits.SplitConfig(train_fraction=0.9, validation_fraction=0.2), "leave rows for the test split"),
        (splits.SplitConfig(train_end="2009-01-01", validation_end="2009-02-01"), "too few rows"),
    ],
)
def test_bad_split_configurations_are_named(product_features, cfg, message):
    with pytest.raises(ValueError, match=message):
        splits.split_chronologically(product_features, cfg)


def test_preprocessor_is_fit_on_train_rows_only(split_frame):
    """Poisoning every non-train row leaves the fitted preprocessor byte-identical."""
    poisoned = split_frame.copy()
    later = poisoned["split"] != "train"
    poisoned.loc[later, "unit_price"] *= 1000.0
    poisoned.loc[later, "customer_type"] = "never-seen"
    clean = splits.Preprocessor.fit(split_frame[split_frame["split"] == "train"])
    dirty = splits.Preprocessor.fit(poisoned[poisoned["split"] == "train"])
    assert clean.to_json() == dirty.to_json()
    assert clean.fitted_rows == int((split_frame["split"] == "train").sum())


def test_preprocessor_scales_encodes_and_keeps_names(split_frame, preprocessor):
    train = split_frame[split_frame["split"] == "train"]
    x = preprocessor.transform(train)
    names = preprocessor.feature_names
    assert x.shape == (len(train), len(names)) and x.dtype == np.float32
    numeric = x[:, : len(NUMERIC_FEATURES)]
    assert np.allclose(numeric.mean(axis=0), 0.0, atol=1e-4)
    assert names[: len(NUMERIC_FEATURES)] == list(NUMERIC_FEATURES)
    assert "customer_type=guest" in names and "customer_type=registered" in names
    assert {n.split("=")[0] for n in names[len(NUMERIC_FEATURES) :]} == set(CATEGORICAL_FEATURES)
    # Unseen category: all zeros in its block rather than an error or a wrong column.
    odd = train.head(3).copy()
    odd["market"] = "Mars"
    block = [i for i, n in enumerate(names) if n.startswith("market=")]
    assert preprocessor.transform(odd)[:, block].sum() == 0


def test_preprocessor_round_trips_through_json(split_frame, preprocessor):
    again = splits.Preprocessor.from_json(preprocessor.to_json())
    rows = split_frame.head(50)
    assert np.array_equal(again.transform(rows), preprocessor.transform(rows))


def test_identifiers_are_not_features(preprocessor):
    for identifier in ("invoice_no", "customer_id", "stock_code", "invoice_date", "quantity", TARGET):
        assert identifier not in preprocessor.feature_names


def test_design_matrices_hand_out_only_the_splits_asked_for(split_frame, preprocessor):
    data = splits.design_matrices(split_frame, preprocessor, ("train", "validation"))
    assert set(data.x) == {"train", "validation"} and "test" not in data.y
    with pytest.raises(ValueError, match="unknown split"):
        splits.design_matrices(split_frame, preprocessor, ("holdout",))


def test_non_finite_features_are_refused(split_frame, preprocessor):
    rows = split_frame.head(5).copy()
    rows.loc[rows.index[0], "unit_price"] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        preprocessor.transform(rows)
