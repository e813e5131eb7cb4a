import pandas as pd
import pytest
from dagster import DagsterInstance

from pricing_assets.core.schema import normalise_transactions
from pricing_assets.core.stockcodes import (
    InvalidStockcodeError,
    eligible_stockcodes,
    stockcode_history,
    validate_stockcode,
)
from pricing_assets.core.synthetic import SyntheticConfig, generate
from pricing_assets.partitions import register_stockcodes


@pytest.mark.parametrize("key", ["85123A", "22423", "15056BL", "DCGS0003"])
def test_valid_keys(key):
    assert validate_stockcode(key) == key


@pytest.mark.parametrize("key", ["../x", "a/b", "", "x" * 33, "ü123", "85123\n", "-85123", ".", "a b", "\x00"])
def test_hostile_keys_are_refused(key):
    with pytest.raises(InvalidStockcodeError, match="invalid stockcode"):
        validate_stockcode(key)


def test_hostile_key_is_never_registered():
    with DagsterInstance.ephemeral() as instance:
        with pytest.raises(InvalidStockcodeError):
            register_stockcodes(instance, ["85123A", "../x"])
        assert instance.get_dynamic_partitions("stockcode") == []
        assert register_stockcodes(instance, ["85123A"]) == ["85123A"]
        assert register_stockcodes(instance, ["85123A"]) == []


def test_eligibility_counts_only_usable_product_lines():
    raw, _ = generate(SyntheticConfig(seed=7, n_products=4))
    history = stockcode_history(normalise_transactions(raw))
    assert "POST" not in history.index and "M" not in history.index
    everything = eligible_stockcodes(history, min_rows=1, min_days=1)
    assert len(everything) == 4 and everything == list(history.index)  # most active first
    assert eligible_stockcodes(history, min_rows=10**6, min_days=1) == []
    top = history.iloc[0]
    assert eligible_stockcodes(history, min_rows=int(top["rows"]), min_days=int(top["days"])) == [history.index[0]]
    assert isinstance(history["first_sale"].iloc[0], pd.Timestamp)
