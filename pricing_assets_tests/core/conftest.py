"""Fixtures for the model half of the core: one synthetic product's features, split and scaled."""

from __future__ import annotations

import pandas as pd
import pytest

from pricing_assets.core import cleaning, features, sources, splits


@pytest.fixture(scope="session")
def synthetic_source():
    return sources.load_source("synthetic", None, 7, 4)


@pytest.fixture(scope="session")
def product_features(synthetic_source) -> pd.DataFrame:
    """Demand features of the most active synthetic product (about 3,000 lines over a year)."""
    code = synthetic_source.transactions["stock_code"].value_counts().index[0]
    cleaned, _ = cleaning.clean_transactions(synthetic_source.transactions, code)
    return features.build_demand_features(cleaned)


@pytest.fixture(scope="session")
def split_frame(product_features) -> pd.DataFrame:
    return splits.split_chronologically(product_features, splits.SplitConfig())


@pytest.fixture(scope="session")
def preprocessor(split_frame) -> splits.Preprocessor:
    return splits.Preprocessor.fit(split_frame[split_frame["split"] == "train"])


@pytest.fixture(scope="session")
def design(split_frame, preprocessor) -> splits.DesignMatrices:
    return splits.design_matrices(split_frame, preprocessor, ("train", "validation", "test"))
