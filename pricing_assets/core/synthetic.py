"""A deterministic Online Retail look-alike whose demand curves are known.

Why: the real data can tell us how well a model fits, but never what the right price was. Here
every product has an expected-quantity curve ``mu(p)`` with an interior revenue optimum, so a
recommended price can be scored against the truth (revenue regret).

Causal structure (kept simple on purpose, so the truth is exactly the formula):
- invoices arrive per day with a yearly season, a weekday profile and no Saturday trading;
- each product joins an invoice with a product-specific, seasonal probability;
- the unit price is set before the customer decides: a daily list price (promotions and rises
  around a base price) times a customer tier (trade customers pay 85 %);
- the quantity is ``1 + Poisson(mu(price) - 1)``, so ``E[quantity | price] = mu(price)``.

Shapes of ``mu`` (``a`` and ``b`` are kept in the ground truth):
- ``exponential``: ``mu(p) = a * exp(-b p)``, revenue optimum at ``p* = 1 / b``;
- ``linear``: ``mu(p) = a - b p``, revenue optimum at ``p* = a / (2 b)``.

Then the quirks of the real file are layered on top: cancellations (invoice ``C...``, negative
quantity), stock adjustments (negative quantity at price 0), free items, guest checkouts,
extreme quantities, exact duplicate lines, missing and padded descriptions, and non-product
codes (postage, manual, dotcom postage, bank charges, bad-debt adjustments).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SHAPES = ("exponential", "linear")
COUNTRIES = ("France", "Germany", "EIRE", "Netherlands", "Spain", "Belgium", "Switzerland", "Norway")
WORDS = (
    "HEART",
    "LANTERN",
    "CANDLE",
    "BUNTING",
    "TEA SET",
    "MUG",
    "CAKE TIN",
    "DOORMAT",
    "BAG",
    "LUNCH BOX",
    "CLOCK",
    "FRAME",
    "COASTER",
    "NAPKINS",
    "PARTY CUPS",
    "JAR",
    "BOTTLE",
    "TRAY",
)
COLOURS = ("WHITE", "RED", "PINK", "BLUE", "VINTAGE", "RETRO", "REGENCY", "JUMBO", "SPOTTY")
TRADE_DISCOUNT = 0.85


def expected_quantity(shape: str, a: float, b: float, price: np.ndarray | float) -> np.ndarray:
    """``E[quantity | unit price]`` of one order line."""
    p = np.asarray(price, dtype=float)
    if shape == "exponential":
        return a * np.exp(-b * p)
    if shape == "linear":
        return np.clip(a - b * p, 0.0, None)
    raise ValueError(f"unknown demand shape {shape!r}; expected one of {SHAPES}")


def optimal_price(shape: str, a: float, b: float) -> float:
    """The unit price that maximises ``p * mu(p)``, in closed form."""
    if shape == "exponential":
        return 1.0 / b
    if shape == "linear":
        return a / (2.0 * b)
    raise ValueError(f"unknown demand shape {shape!r}; expected one of {SHAPES}")


@dataclass(frozen=True)
class SyntheticConfig:
    seed: int = 7
    n_products: int = 24
    start: str = "2010-12-01"
    end: str = "2011-12-09"
    invoices_per_day: float = 120.0
    guest_share: float = 0.25


def _stock_codes(rng: np.random.Generator, n: int) -> list[str]:
    numbers = rng.choice(np.arange(20000, 90000), size=n, replace=False)
    suffix = rng.choice(["", "", "", "A", "B", "C", "F"], size=n)
    return [f"{num}{s}" for num, s in zip(numbers, suffix, strict=True)]


def _ground_truth(rng: np.random.Generator, n: int) -> pd.DataFrame:
    codes = _stock_codes(rng, n)
    shapes = [SHAPES[i % len(SHAPES)] for i in range(n)]
    p_star = np.round(np.exp(rng.uniform(np.log(0.6), np.log(12.0), size=n)), 2)
    q_star = rng.uniform(6.0, 24.0, size=n)
    rows = []
    for i in range(n):
        if shapes[i] == "exponential":
            b = 1.0 / p_star[i]
            a = q_star[i] * np.e  # mu(p*) = q*
        else:
            b = q_star[i] / p_star[i]
            a = 2.0 * q_star[i]  # mu(p*) = q*
        description = f"{rng.choice(COLOURS)} {rng.choice(WORDS)}"
        rows.append(
            {
                "stock_code": codes[i],
                "description": description,
                "shape": shapes[i],
                "a": float(a),
                "b": float(b),
                "optimal_price": optimal_price(shapes[i], a, b),
                "quantity_at_optimum": float(expected_quantity(shapes[i], a, b, optimal_price(shapes[i], a, b))),
                # The retailer does not sit at the optimum: its base price is off by up to 30 %.
                "base_price": float(np.round(p_star[i] * rng.uniform(0.75, 1.3), 2)),
                "popularity": float(rng.uniform(0.02, 0.09)),
                "seasonality": float(rng.uniform(0.0, 0.3)),
            }
        )
    return pd.DataFrame(rows)


def _invoices(rng: np.random.Generator, cfg: SyntheticConfig) -> pd.DataFrame:
    """One row per invoice: timestamp, customer, country, trade tier."""
    days = pd.date_range(cfg.start, cfg.end, freq="D")
    days = days[days.dayofweek != 5]  # the real shop does not trade on Saturdays
    doy = days.dayofyear.to_numpy()
    season = 1.0 + 0.2 * np.sin(2 * np.pi * (doy - 250) / 365.25)
    weekday = np.array([1.0, 1.05, 1.1, 1.15, 0.9, 0.0, 0.7])[days.dayofweek]
    counts = rng.poisson(cfg.invoices_per_day * season * weekday)
    day_of_invoice = np.repeat(days.to_numpy(), counts)
    n = len(day_of_invoice)
    minutes = rng.integers(8 * 60, 18 * 60, size=n)
    timestamps = pd.to_datetime(day_of_invoice) + pd.to_timedelta(minutes, unit="min")
    customers = rng.integers(12346, 18288, size=n).astype(float)
    guest = rng.random(n) < cfg.guest_share
    customers[guest] = np.nan
    # Trade customers are registered ones whose id falls in a fixed band (stable per customer).
    trade = ~guest & (np.mod(customers, 5) == 0)
    country = np.where(rng.random(n) < 0.9, "United Kingdom", rng.choice(COUNTRIES, size=n))
    frame = pd.DataFrame(
        {"invoice_date": timestamps, "customer_id": customers, "country": country, "trade": trade}
    ).sort_values("invoice_date", kind="mergesort")
    frame["invoice_no"] = [str(536365 + i) for i in range(len(frame))]
    return frame.reset_index(drop=True)


def _daily_list_price(rng: np.random.Generator, base: float, days: np.ndarray) -> np.ndarray:
    """A list price per trading day: the base price, or a promotion or rise of 10-20 %."""
    steps = np.array([0.8, 0.9, 1.0, 1.0, 1.0, 1.1, 1.2])
    unique, position = np.unique(days, return_inverse=True)
    return np.round(base * rng.choice(steps, size=len(unique)), 2)[position]


def _product_lines(rng: np.random.Generator, invoices: pd.DataFrame, truth: pd.Series) -> pd.DataFrame:
    doy = invoices["invoice_date"].dt.dayofyear.to_numpy()
    phase = rng.uniform(0, 365)
    season = 1.0 + truth["seasonality"] * np.sin(2 * np.pi * (doy - phase) / 365.25)
    chosen = rng.random(len(invoices)) < truth["popularity"] * season
    lines = invoices.loc[chosen].copy()
    days = (lines["invoice_date"] - pd.Timestamp("2010-01-01")).dt.days.to_numpy()
    list_price = _daily_list_price(rng, truth["base_price"], days)
    price = np.round(np.where(lines["trade"], list_price * TRADE_DISCOUNT, list_price), 2)
    mu = expected_quantity(truth["shape"], truth["a"], truth["b"], price)
    quantity = 1 + rng.poisson(np.clip(mu - 1.0, 0.0, None))
    lines["stock_code"] = truth["stock_code"]
    lines["description"] = truth["description"]
    lines["unit_price"] = price
    lines["quantity"] = quantity.astype("int64")
    return lines


def _non_product_lines(rng: np.random.Generator, invoices: pd.DataFrame) -> pd.DataFrame:
    abroad = invoices[invoices["country"] != "United Kingdom"]
    post = abroad.sample(frac=0.6, random_state=int(rng.integers(1 << 30))).assign(
        stock_code="POST", description="POSTAGE", quantity=1, unit_price=18.0
    )
    some = invoices.sample(n=min(60, len(invoices)), random_state=int(rng.integers(1 << 30)))
    manual = some.iloc[:30].assign(
        stock_code="M", description="Manual", quantity=1, unit_price=np.round(rng.uniform(0.2, 300, 30), 2)
    )
    dot = some.iloc[30:50].assign(
        stock_code="DOT", description="DOTCOM POSTAGE", quantity=1, unit_price=np.round(rng.uniform(50, 2000, 20), 2)
    )
    bank = some.iloc[50:].assign(stock_code="BANK CHARGES", description="Bank Charges", quantity=1, unit_price=15.0)
    return pd.concat([post, manual, dot, bank])


def add_quirks(rng: np.random.Generator, lines: pd.DataFrame, last_invoice: int) -> pd.DataFrame:
    """Layer the real file's dirt over clean product lines."""
    n = len(lines)
    product = ~lines["stock_code"].isin(["POST", "M", "DOT", "BANK CHARGES"])
    # Extreme quantities (a bulk mistake, often cancelled later in the real data).
    extreme = product.to_numpy() & (rng.random(n) < 0.001)
    lines.loc[extreme, "quantity"] = (lines.loc[extreme, "quantity"] * rng.integers(80, 400, extreme.sum())).astype(
        "int64"
    )
    # Free items.
    free = product.to_numpy() & (rng.random(n) < 0.001)
    lines.loc[free, "unit_price"] = 0.0
    # Padded and missing descriptions.
    pad = rng.random(n) < 0.05
    lines.loc[pad, "description"] = lines.loc[pad, "description"] + " "
    missing = rng.random(n) < 0.002
    lines.loc[missing, "description"] = None

    # Cancellations: a later invoice C<number> that takes the line back.
    cancel = product.to_numpy() & (rng.random(n) < 0.015)
    cancelled = lines.loc[cancel].copy()
    cancelled["invoice_date"] = cancelled["invoice_date"] + pd.to_timedelta(
        rng.integers(10, 60 * 24 * 10, cancel.sum()), unit="min"
    )
    cancelled["quantity"] = -cancelled["quantity"]
    cancelled["invoice_no"] = ["C" + str(last_invoice + 1 + i) for i in range(len(cancelled))]
    # Stock adjustments: negative quantity at price 0, no customer.
    adjust_mask = product.to_numpy() & (rng.random(n) < 0.003)
    adjustments = lines.loc[adjust_mask].copy()
    adjustments["quantity"] = -rng.integers(1, 50, adjust_mask.sum())
    adjustments["unit_price"] = 0.0
    adjustments["customer_id"] = np.nan
    adjustments["description"] = rng.choice(["damaged", "?", "check", "lost"], adjust_mask.sum())
    # Bad-debt adjustments.
    bad_debt = (
        lines.iloc[:2]
        .copy()
        .assign(
            stock_code="B",
            description="Adjust bad debt",
            quantity=1,
            unit_price=[11062.06, -11062.06],
            customer_id=np.nan,
        )
    )
    bad_debt["invoice_no"] = ["A563185", "A563186"]
    # Exact duplicate lines (double-submitted rows).
    duplicates = lines.loc[product.to_numpy() & (rng.random(n) < 0.005)]
    out = pd.concat([lines, cancelled, adjustments, bad_debt, duplicates], ignore_index=True)
    return out.sort_values(["invoice_date", "invoice_no"], kind="mergesort").reset_index(drop=True)


def generate(cfg: SyntheticConfig = SyntheticConfig()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(transactions, ground_truth)``; identical for identical ``cfg``.

    ``transactions`` has the UCI Online Retail columns (original capitalisation), so it goes
    through the same normalisation as the real file.
    """
    if cfg.n_products < 1:
        raise ValueError("n_products must be at least 1")
    rng = np.random.default_rng(cfg.seed)
    truth = _ground_truth(rng, cfg.n_products)
    invoices = _invoices(rng, cfg)
    parts = [_product_lines(rng, invoices, row) for _, row in truth.iterrows()]
    parts.append(_non_product_lines(rng, invoices))
    lines = pd.concat(parts, ignore_index=True)
    lines = add_quirks(rng, lines, last_invoice=536365 + len(invoices))
    truth = truth.drop(columns=["popularity", "seasonality"])
    return as_uci_columns(lines), truth


def as_uci_columns(lines: pd.DataFrame) -> pd.DataFrame:
    """Simulated lines under the UCI file's own column names, so they take the real file's path in."""
    return pd.DataFrame(
        {
            "InvoiceNo": lines["invoice_no"].astype(str),
            "StockCode": lines["stock_code"].astype(str),
            "Description": lines["description"],
            "Quantity": lines["quantity"].astype("int64"),
            "InvoiceDate": lines["invoice_date"],
            "UnitPrice": lines["unit_price"].astype(float),
            "CustomerID": lines["customer_id"].astype(float),
            "Country": lines["country"].astype(str),
        }
    )
