import numpy as np
import pandas as pd
import pytest

from pricing_assets.core.synthetic import SyntheticConfig, expected_quantity, generate, optimal_price


def test_same_seed_same_data_other_seed_other_data():
    a, truth_a = generate(SyntheticConfig(seed=3, n_products=5))
    b, truth_b = generate(SyntheticConfig(seed=3, n_products=5))
    c, _ = generate(SyntheticConfig(seed=4, n_products=5))
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(truth_a, truth_b)
    assert not a.equals(c)


@pytest.mark.parametrize("shape", ["exponential", "linear"])
def test_optimum_is_where_revenue_peaks(shape):
    a, b = (20.0, 0.4) if shape == "exponential" else (30.0, 3.0)
    grid = np.linspace(0.01, 20, 200_001)
    revenue = grid * expected_quantity(shape, a, b, grid)
    assert optimal_price(shape, a, b) == pytest.approx(grid[np.argmax(revenue)], abs=1e-3)
    assert optimal_price(shape, a, b) == pytest.approx(1 / b if shape == "exponential" else a / (2 * b))


def test_ground_truth_is_interior_and_matches_formula():
    transactions, truth = generate(SyntheticConfig(seed=1, n_products=6))
    for _, row in truth.iterrows():
        assert row["optimal_price"] == pytest.approx(optimal_price(row["shape"], row["a"], row["b"]))
        prices = transactions.loc[
            (transactions["StockCode"] == row["stock_code"])
            & (transactions["UnitPrice"] > 0)
            & (transactions["Quantity"] > 0),
            "UnitPrice",
        ]
        # The observed prices bracket the optimum, so it is learnable and interior.
        assert prices.quantile(0.05) < row["optimal_price"] < prices.quantile(0.95) * 1.6


def test_mean_quantity_follows_the_curve():
    transactions, truth = generate(SyntheticConfig(seed=2, n_products=2, invoices_per_day=300))
    row = truth.iloc[0]
    lines = transactions[
        (transactions["StockCode"] == row["stock_code"])
        & ~transactions["InvoiceNo"].str.startswith("C")
        & (transactions["Quantity"] > 0)
        & (transactions["Quantity"] < 1000)
        & (transactions["UnitPrice"] > 0)
    ]
    by_price = lines.groupby("UnitPrice")["Quantity"].agg(["mean", "size"])
    by_price = by_price[by_price["size"] > 150]
    expected = expected_quantity(row["shape"], row["a"], row["b"], by_price.index.to_numpy())
    assert np.allclose(by_price["mean"], expected, rtol=0.12)


def test_has_the_quirks_of_the_real_file():
    transactions, _ = generate(SyntheticConfig(seed=5, n_products=8))
    assert transactions["InvoiceNo"].str.startswith("C").any()
    assert (transactions["Quantity"] < 0).any()
    assert 0.15 < transactions["CustomerID"].isna().mean() < 0.4
    assert {"POST", "M", "DOT", "BANK CHARGES"} <= set(transactions["StockCode"])
    assert (transactions["UnitPrice"] <= 0).any()
    assert transactions.duplicated().any()
    assert transactions["Quantity"].max() > 500
    assert transactions["Description"].isna().any()
    assert transactions["Description"].str.endswith(" ").fillna(False).any()
    sales = transactions[~transactions["InvoiceNo"].str.startswith("C")]
    assert 5 not in set(pd.to_datetime(sales["InvoiceDate"]).dt.dayofweek)  # no Saturday trading
