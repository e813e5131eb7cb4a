"""The transaction table's schema: the one place that knows column names and types.

Sources hand over whatever headers their file has; :func:`normalise_transactions` maps them to
snake_case, checks that every required column is there with a usable type, and fails with an
error that names what is wrong and how to fix it.
"""

from __future__ import annotations

import re

import pandas as pd

# Normalised name -> dtype after normalisation.
COLUMNS: dict[str, str] = {
    "invoice_no": "string",
    "stock_code": "string",
    "description": "string",
    "quantity": "int64",
    "invoice_date": "datetime64[ns]",
    "unit_price": "float64",
    "customer_id": "float64",
    "country": "string",
}
REQUIRED = tuple(COLUMNS)

# Other spellings seen in the wild (UCI "Online Retail II" uses Invoice / Price / Customer ID).
ALIASES = {
    "invoice": "invoice_no",
    "invoice_number": "invoice_no",
    "stockcode": "stock_code",
    "price": "unit_price",
    "unitprice": "unit_price",
    "customerid": "customer_id",
    "invoicedate": "invoice_date",
    "invoiceno": "invoice_no",
}


class SourceSchemaError(ValueError):
    """The source file does not have the Online Retail columns or types."""


def snake_case(name: str) -> str:
    """``InvoiceNo`` -> ``invoice_no``, ``Customer ID`` -> ``customer_id``."""
    name = str(name).strip()
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    name = re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()
    return re.sub(r"_+", "_", name)


def normalise_column_names(columns: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for original in columns:
        snake = snake_case(original)
        snake = ALIASES.get(snake, ALIASES.get(snake.replace("_", ""), snake))
        mapping[original] = snake
    return mapping


def normalise_transactions(frame: pd.DataFrame, origin: str = "source") -> pd.DataFrame:
    """Rename to snake_case, check required columns, coerce types. Raises SourceSchemaError."""
    if frame.empty and len(frame.columns) == 0:
        raise SourceSchemaError(f"{origin} is empty: no columns and no rows")
    mapping = normalise_column_names(list(frame.columns))
    renamed = frame.rename(columns=mapping)
    duplicated = sorted({c for c in renamed.columns if list(renamed.columns).count(c) > 1})
    if duplicated:
        raise SourceSchemaError(f"{origin} has columns that collide after normalisation: {duplicated}")
    missing = [c for c in REQUIRED if c not in renamed.columns]
    if missing:
        found = ", ".join(map(str, frame.columns))
        raise SourceSchemaError(
            f"{origin} is missing required column(s) {missing}; found [{found}]. "
            "Expected the UCI Online Retail columns InvoiceNo, StockCode, Description, Quantity, "
            "InvoiceDate, UnitPrice, CustomerID, Country (any capitalisation)."
        )
    if renamed.empty:
        raise SourceSchemaError(f"{origin} has the right columns but no rows")
    out = renamed[list(REQUIRED)].copy()
    bad: list[str] = []
    for column, kind in (("quantity", "number"), ("unit_price", "number"), ("customer_id", "number")):
        coerced = pd.to_numeric(out[column], errors="coerce")
        if (coerced.isna() & out[column].notna()).any():
            example = out.loc[coerced.isna() & out[column].notna(), column].iloc[0]
            bad.append(f"{column} must be a {kind} (found {example!r})")
        out[column] = coerced
    dates = pd.to_datetime(out["invoice_date"], errors="coerce")
    if (dates.isna() & out["invoice_date"].notna()).any():
        example = out.loc[dates.isna() & out["invoice_date"].notna(), "invoice_date"].iloc[0]
        bad.append(f"invoice_date must be a date-time (found {example!r})")
    if out["quantity"].notna().all() and not (out["quantity"] == out["quantity"].round()).all():
        bad.append("quantity must be whole numbers")
    if bad:
        raise SourceSchemaError(f"{origin} has columns of the wrong type: " + "; ".join(bad))
    out["invoice_date"] = dates.astype("datetime64[ns]")
    if out["quantity"].isna().any():
        raise SourceSchemaError(f"{origin} has rows with no quantity ({int(out['quantity'].isna().sum())})")
    out["quantity"] = out["quantity"].astype("int64")
    out["unit_price"] = out["unit_price"].astype("float64")
    out["customer_id"] = out["customer_id"].astype("float64")
    for column in ("invoice_no", "stock_code", "description", "country"):
        out[column] = out[column].astype("string").str.strip()
    out["stock_code"] = out["stock_code"].str.upper()
    return out.reset_index(drop=True)
