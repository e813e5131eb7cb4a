import http.server
import threading
from functools import partial

import pandas as pd
import pytest

from pricing_assets.core.schema import SourceSchemaError, normalise_transactions, snake_case
from pricing_assets.core.sources import SourceUnavailableError, load_source
from pricing_assets.core.synthetic import SyntheticConfig, generate
from pricing_assets_tests import components

EXPECTED = [
    "invoice_no",
    "stock_code",
    "description",
    "quantity",
    "invoice_date",
    "unit_price",
    "customer_id",
    "country",
]


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return generate(SyntheticConfig(seed=1, n_products=2))[0].head(300)


@pytest.mark.parametrize(
    "name,expected",
    [
        ("InvoiceNo", "invoice_no"),
        ("CustomerID", "customer_id"),
        ("Customer ID", "customer_id"),
        ("UnitPrice", "unit_price"),
        ("StockCode", "stock_code"),
        ("InvoiceDate", "invoice_date"),
    ],
)
def test_snake_case(name, expected):
    from pricing_assets.core.schema import normalise_column_names

    assert normalise_column_names([name])[name] == expected
    assert snake_case("InvoiceNo") == "invoice_no"


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx"])
def test_each_file_type_loads_to_the_same_table(tmp_path, raw, suffix):
    path = tmp_path / f"retail{suffix}"
    {".csv": raw.to_csv, ".parquet": raw.to_parquet, ".xlsx": raw.to_excel}[suffix](path, index=False)
    data = load_source("uci", str(path))
    assert list(data.transactions.columns) == EXPECTED
    assert len(data.transactions) == len(raw)
    assert data.ground_truth is None
    assert data.transactions["quantity"].dtype == "int64"
    assert str(data.transactions["invoice_date"].dtype) == "datetime64[ns]"


def test_loads_from_a_url(tmp_path, raw):
    raw.to_csv(tmp_path / "retail.csv", index=False)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/retail.csv"
        assert len(load_source("uci", url).transactions) == len(raw)
    finally:
        server.shutdown()


def test_missing_columns_are_named(tmp_path, raw):
    path = tmp_path / "bad.csv"
    raw.drop(columns=["UnitPrice", "Country"]).to_csv(path, index=False)
    with pytest.raises(SourceSchemaError, match=r"missing required column\(s\) \['unit_price', 'country'\]"):
        load_source("uci", str(path))


def test_wrong_types_are_named(raw):
    bad = raw.astype({"Quantity": object}).copy()
    bad.loc[bad.index[3], "Quantity"] = "lots"
    with pytest.raises(SourceSchemaError, match="quantity must be a number.*'lots'"):
        normalise_transactions(bad)
    bad = raw.astype({"InvoiceDate": object}).copy()
    bad.loc[bad.index[0], "InvoiceDate"] = "yesterday-ish"
    with pytest.raises(SourceSchemaError, match="invoice_date must be a date-time"):
        normalise_transactions(bad)


def test_empty_unknown_and_absent_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(SourceSchemaError, match="empty"):
        load_source("uci", str(empty))
    header_only = tmp_path / "header.csv"
    header_only.write_text("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n")
    with pytest.raises(SourceSchemaError, match="no rows"):
        load_source("uci", str(header_only))
    with pytest.raises(SourceSchemaError, match="unknown file type .json"):
        load_source("uci", str(tmp_path / "x.json"))
    with pytest.raises(SourceUnavailableError, match="does not exist"):
        load_source("uci", str(tmp_path / "absent.parquet"))
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"not parquet at all")
    with pytest.raises(SourceSchemaError, match="cannot parse"):
        load_source("uci", str(corrupt))
    with pytest.raises(SourceUnavailableError, match="--data"):
        load_source("uci", None)


def test_uci_developers_share():
    components.require("dev-data")
    data = load_source("uci", str(components.dev_data_file()))
    t = data.transactions
    assert list(t.columns) == EXPECTED
    assert len(t) == 320_705
    assert t["invoice_date"].min() >= pd.Timestamp("2010-12-01")
    assert t["invoice_date"].max() < pd.Timestamp("2011-09-01")
    assert t["invoice_no"].str.startswith("C").sum() > 1000
    assert 0.15 < t["customer_id"].isna().mean() < 0.35
