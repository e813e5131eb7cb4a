"""Fixtures for the model half of the core: one synthetic product's weekly rows, split and scaled.

The path is the pipeline's: the product's cleaned lines -> ``price_list.weekly_demand`` (one row per
week) -> ``weekly_features.build_weekly_features`` (one row per week and price list, with the catalogue's
demand index learned from the whole synthetic source, as ``catalogue_demand_index`` learns it) -> a
chronological split -> a preprocessor fit on the train rows. The elasticity is fixed here (the pipeline takes the
stockcode's estimate): the tests are about what is built from it, not about estimating it.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from pricing_assets.core import cleaning, demand_index, price_list, sources, splits, weekly_features
from pricing_assets.core.models import ENSEMBLE_KIND, TRAINERS, Candidate, with_ensemble
from pricing_assets.core.tuning import TuningBudget

ELASTICITY = -1.3
SPLIT = splits.SplitConfig(0.7, 0.15, None, None, 4)
SMALL = {"dfn": TuningBudget(2, 120), "default": TuningBudget(3, 120)}  # tiny budgets: seconds for all six


def seen_by_trainers(design: splits.DesignMatrices) -> splits.DesignMatrices:
    """Train and validation only, as the training asset hands them out (the test split is never seen)."""
    keep = ("train", "validation")
    return replace(design, x={k: design.x[k] for k in keep}, y={k: design.y[k] for k in keep})


def train(kind: str, design: splits.DesignMatrices, seed: int = 7) -> Candidate:
    extra = {"max_epochs": 12} if kind == "dfn" else {}
    return TRAINERS[kind](seen_by_trainers(design), SMALL.get(kind, SMALL["default"]), seed, lambda _: None, **extra)


@pytest.fixture(scope="session")
def synthetic_source():
    return sources.load_source("synthetic", None, 7, 4)


@pytest.fixture(scope="session")
def product_lines(synthetic_source) -> pd.DataFrame:
    """The cleaned lines of the most active synthetic product (about 3,400 lines over 54 weeks)."""
    code = synthetic_source.transactions["stock_code"].value_counts().index[0]
    cleaned, _ = cleaning.clean_transactions(synthetic_source.transactions, code)
    return cleaned


@pytest.fixture(scope="session")
def weekly_panel(product_lines) -> pd.DataFrame:
    return price_list.weekly_demand(product_lines)


@pytest.fixture(scope="session")
def catalogue_index(synthetic_source) -> pd.DataFrame:
    """The synthetic catalogue's weekly demand index table (every product eligible at the default thresholds)."""
    _, lines, panel = price_list.eligible_weekly_demand(synthetic_source.transactions, 150, 60)
    return demand_index.catalogue_index(panel, lines)


@pytest.fixture(scope="session")
def weekly_rows(weekly_panel, catalogue_index) -> pd.DataFrame:
    """One row per week and price list (about 108): what the demand models learn from."""
    return weekly_features.build_weekly_features(weekly_panel, ELASTICITY, catalogue_index)


@pytest.fixture(scope="session")
def next_rows(weekly_panel, catalogue_index) -> pd.DataFrame:
    """The week after the last, one row per price list: what a forecast is made for."""
    return weekly_features.next_week_rows(weekly_panel, ELASTICITY, catalogue_index)


@pytest.fixture(scope="session")
def split_frame(weekly_rows) -> pd.DataFrame:
    return splits.split_chronologically(weekly_rows, SPLIT)


@pytest.fixture(scope="session")
def preprocessor(split_frame) -> splits.Preprocessor:
    return splits.Preprocessor.fit(split_frame[split_frame["split"] == "train"])


@pytest.fixture(scope="session")
def design(split_frame, preprocessor) -> splits.DesignMatrices:
    return splits.design_matrices(split_frame, preprocessor, ("train", "validation", "test"))


@pytest.fixture(scope="session")
def candidates(design) -> dict[str, Candidate]:
    """Every kind of candidate (TRAINERS) trained on the product's weekly rows with tiny budgets, and the
    champion model_evaluation adds: the models' mean (``models.with_ensemble``)."""
    trained = {kind: train(kind, design) for kind in TRAINERS}
    models = with_ensemble({kind: candidate.model for kind, candidate in trained.items()}, design)
    return {**trained, ENSEMBLE_KIND: Candidate(models[ENSEMBLE_KIND])}
