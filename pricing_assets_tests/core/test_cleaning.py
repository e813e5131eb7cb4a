import numpy as np
import pandas as pd

from pricing_assets.core.cleaning import CleaningConfig, clean_transactions, is_product_code
from pricing_assets.core.schema import normalise_transactions


def frame(rows):
    """Rows of (invoice, code, qty, minute, price, customer)."""
    return normalise_transactions(
        pd.DataFrame(
            {
                "InvoiceNo": [r[0] for r in rows],
                "StockCode": [r[1] for r in rows],
                "Description": ["ITEM "] * len(rows),
                "Quantity": [r[2] for r in rows],
                "InvoiceDate": [pd.Timestamp("2011-01-03 09:00") + pd.Timedelta(minutes=r[3]) for r in rows],
                "UnitPrice": [r[4] for r in rows],
                "CustomerID": [r[5] for r in rows],
                "Country": ["United Kingdom"] * len(rows),
            }
        )
    )


def base_rows(n=30):
    return [(str(500000 + i), "85123A", 6, i * 60, 2.5, 17850.0) for i in range(n)]


def test_clean_rows_pass_unchanged():
    cleaned, report = clean_transactions(frame(base_rows()), "85123A")
    assert len(cleaned) == 30 and sum(report.dropped.values()) == 0
    assert cleaned["description"].eq("ITEM").all()  # trailing space stripped


def test_each_rule_is_applied_and_counted():
    rows = base_rows()
    rows += [
        ("600001", "POST", 1, 5, 18.0, 17850.0),  # non-product
        rows[3],  # exact duplicate
        ("C600002", "85123A", -6, 200, 2.5, 17850.0),  # cancels the line at minute 180 (same customer and qty)
        ("600003", "85123A", -4, 7, 0.0, np.nan),  # stock adjustment
        ("600004", "85123A", 5, 8, 0.0, 17850.0),  # free item
        ("600005", "85123A", 6000, 2000, 2.5, 17850.0),  # quantity outlier vs earlier lines
        ("600006", "85123A", 6, 2001, 250.0, 17850.0),  # price outlier vs earlier lines
    ]
    cleaned, report = clean_transactions(frame(rows))
    d = report.dropped
    assert (d["non_product"], d["exact_duplicate"], d["cancellation"], d["cancelled_original"]) == (1, 1, 1, 1)
    assert (d["non_positive_quantity"], d["non_positive_price"], d["quantity_outlier"], d["price_outlier"]) == (
        1,
        1,
        1,
        1,
    )
    assert report.rows_out == len(cleaned) == 29
    assert not (cleaned["invoice_date"] == pd.Timestamp("2011-01-03 12:00")).any()  # the cancelled original


def test_outliers_are_judged_against_the_past_only():
    # A large order early on is not an outlier just because later orders are small.
    rows = [(str(500000 + i), "85123A", 6, i * 60, 2.5, 1.0) for i in range(40)]
    rows[25] = ("500025", "85123A", 100, 25 * 60, 2.5, 1.0)  # 16x the earlier median: kept
    cleaned, report = clean_transactions(frame(rows), cfg=CleaningConfig(outlier_factor=20))
    assert report.dropped["quantity_outlier"] == 0
    early = [(str(500000 + i), "85123A", 600, i, 2.5, 1.0) for i in range(5)]  # before min history
    _, report = clean_transactions(frame(early + base_rows()))
    assert report.dropped["quantity_outlier"] == 0


def test_a_quantity_is_judged_against_what_is_usual_for_whoever_ordered_it():
    """A wholesaler's habitual bulk order is demand, a shop's hundredfold line is a mistake: rule 7."""
    rows = []
    for i in range(60):
        if i % 4 == 0:
            rows.append((str(500000 + i), "85123A", 300, i * 60, 2.1, 99.0))  # a wholesaler, 300 a line
        elif i % 4 == 1:
            rows.append((str(500000 + i), "85123A", 6, i * 60, 2.5, 7.0))  # a shop, 6 a line
        else:
            rows.append((str(500000 + i), "85123A", 2, i * 60, 5.0, np.nan))  # guests, 2 a line
    rows[41] = ("500041", "85123A", 600, 41 * 60, 2.5, 7.0)  # the shop keys 600: 100x its habit
    rows[42] = ("500042", "85123A", 1000, 42 * 60, 5.0, np.nan)  # a guest's 1000: 3x nearly every line before
    rows[46] = ("500046", "85123A", 9000, 46 * 60, 5.0, np.nan)  # a guest's 9000: 30x nearly every line before
    cleaned, report = clean_transactions(frame(rows))
    assert report.dropped["quantity_outlier"] == 2
    assert set(cleaned["quantity"]) == {300, 6, 2, 1000}
    assert (cleaned["quantity"] == 300).sum() == 15  # every one of the wholesaler's lines, 150x the median line


def test_guests_are_imputed_not_dropped():
    rows = base_rows()
    rows[0] = (rows[0][0], "85123A", 6, 0, 2.5, np.nan)
    cleaned, report = clean_transactions(frame(rows))
    assert cleaned["is_guest"].sum() == 1 and report.imputed["customer_id_to_guest"] == 1


def test_product_codes():
    codes = pd.Series(["85123A", "22423", "POST", "DCGS0003", "gift_0001_40", "BANK CHARGES", "M", "15056BL"])
    assert is_product_code(codes).tolist() == [True, True, False, False, False, False, False, True]


def test_all_cancelled_stockcode_gives_empty_frame():
    rows = [("C" + str(500000 + i), "85123A", -6, i, 2.5, 1.0) for i in range(5)]
    cleaned, report = clean_transactions(frame(rows), "85123A")
    assert cleaned.empty and report.dropped["cancellation"] == 5
