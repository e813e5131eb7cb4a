import numpy as np
import pandas as pd
import pytest

from pricing_assets.core import splits
from pricing_assets.core.weekly_features import CATEGORICAL_FEATURES, CONTEXT_COLUMNS, NUMERIC_FEATURES, TARGET
from pricing_assets.settings import Settings

from .conftest import SPLIT


def test_splits_are_chronological_by_week_and_never_cut_a_week(split_frame, weekly_rows):
    by_split = split_frame.groupby("split")["week"].agg(["min", "max", "size"])
    assert by_split.loc["train", "max"] < by_split.loc["validation", "min"]
    assert by_split.loc["validation", "max"] < by_split.loc["test", "min"]
    # Both price lists of a week are on the same side of every boundary.
    assert split_frame.groupby("week")["split"].nunique().max() == 1
    assert (split_frame.groupby("week").size() == 2).all() and len(split_frame) == len(weekly_rows)
    shares = by_split["size"] / len(split_frame)
    assert shares["train"] == pytest.approx(0.7, abs=0.03) and shares["validation"] == pytest.approx(0.15, abs=0.03)
    # Whatever order the rows come in.
    shuffled = weekly_rows.sample(frac=1.0, random_state=3)
    again = splits.split_chronologically(shuffled, SPLIT)
    pd.testing.assert_frame_equal(again, split_frame)


def test_cut_off_dates(weekly_rows):
    cfg = splits.SplitConfig(0.7, 0.15, "2011-06-01", "2011-09-01", 4)
    frame = splits.split_chronologically(weekly_rows, cfg)
    train, val, test = (frame[frame["split"] == s]["week"] for s in splits.SPLITS)
    assert train.max() < pd.Timestamp("2011-06-01") <= val.min()
    assert val.max() < pd.Timestamp("2011-09-01") <= test.min()


def test_the_split_comes_from_settings_with_every_field():
    cfg = splits.SplitConfig.from_settings(Settings.from_env({}))
    assert cfg == splits.SplitConfig(0.7, 0.15, None, None, 4)
    custom = Settings.from_env(
        {
            "PRICING_SPLIT_TRAIN_END": "2011-06-01",
            "PRICING_SPLIT_VALIDATION_END": "2011-09-01",
            "PRICING_SPLIT_MIN_ROWS": "6",
        }
    )
    assert splits.SplitConfig.from_settings(custom) == splits.SplitConfig(0.7, 0.15, "2011-06-01", "2011-09-01", 6)
    with pytest.raises(TypeError):
        splits.SplitConfig(0.7, 0.15)  # no defaults: the settings hold them


@pytest.mark.parametrize(
    "cfg,message",
    [
        (splits.SplitConfig(0.7, 0.15, "2011-06-01", None, 4), "both train_end and validation_end"),
        (splits.SplitConfig(0.7, 0.15, "2011-09-01", "2011-06-01", 4), "must be before"),
        (splits.SplitConfig(0.9, 0.2, None, None, 4), "leave rows for the test split"),
        (splits.SplitConfig(0.7, 0.15, "2009-01-01", "2009-02-01", 4), "too few rows"),
        (splits.SplitConfig(0.7, 0.15, None, None, 20), r"too few rows in \{'validation': 16, 'test': 18\}"),
    ],
)
def test_bad_split_configurations_are_named(weekly_rows, cfg, message):
    with pytest.raises(ValueError, match=message):
        splits.split_chronologically(weekly_rows, cfg)


def test_preprocessor_is_fit_on_train_rows_only(split_frame):
    """Poisoning every non-train row leaves the fitted preprocessor byte-identical."""
    poisoned = split_frame.copy()
    later = poisoned["split"] != "train"
    poisoned.loc[later, list(NUMERIC_FEATURES)] *= 1000.0
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
    assert names[len(NUMERIC_FEATURES) :] == ["customer_type=guest", "customer_type=registered"]
    assert {n.split("=")[0] for n in names[len(NUMERIC_FEATURES) :]} == set(CATEGORICAL_FEATURES)
    block = [i for i, n in enumerate(names) if n.startswith("customer_type=")]
    assert (x[:, block].sum(axis=1) == 1).all()
    # Unseen category: all zeros in its block rather than an error or a wrong column.
    odd = train.head(3).copy()
    odd["customer_type"] = "wholesale-partner"
    assert preprocessor.transform(odd)[:, block].sum() == 0


def test_preprocessor_round_trips_through_json(split_frame, preprocessor):
    again = splits.Preprocessor.from_json(preprocessor.to_json())
    rows = split_frame.head(50)
    assert np.array_equal(again.transform(rows), preprocessor.transform(rows))


def test_what_a_row_observed_is_not_a_feature(preprocessor):
    """The week's own units and orders, the target and the list price stay out of the inputs."""
    for column in (*CONTEXT_COLUMNS, TARGET):
        if column not in CATEGORICAL_FEATURES:
            assert column not in preprocessor.feature_names
    assert set(preprocessor.numeric) == set(NUMERIC_FEATURES)


def test_design_matrices_hand_out_only_the_splits_asked_for(split_frame, preprocessor):
    data = splits.design_matrices(split_frame, preprocessor, ("train", "validation"))
    assert set(data.x) == {"train", "validation"} and "test" not in data.y
    train = split_frame[split_frame["split"] == "train"]
    assert np.allclose(data.y["train"], train[TARGET])
    # The scaling the baselines undo: each numeric feature's train mean and scale.
    assert list(data.scaling) == list(NUMERIC_FEATURES)
    name = NUMERIC_FEATURES[1]
    mean, scale = data.scaling[name]
    assert mean == pytest.approx(train[name].mean()) and scale == pytest.approx(train[name].std(ddof=0))
    with pytest.raises(ValueError, match="unknown split"):
        splits.design_matrices(split_frame, preprocessor, ("holdout",))


def test_non_finite_features_are_refused(split_frame, preprocessor):
    rows = split_frame.head(5).copy()
    rows.loc[rows.index[0], NUMERIC_FEATURES[0]] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        preprocessor.transform(rows)
    with pytest.raises(ValueError, match="columns missing"):
        preprocessor.transform(rows.drop(columns=[NUMERIC_FEATURES[2]]))
