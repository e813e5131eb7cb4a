"""The decision-quality benchmark's smoke run: it runs, scores every method against the truth, and renders.

``bench/decision_quality.py --quick`` (12 store products, 2 real codes, the smallest budget) in a
subprocess; no timing is asserted. What is asserted holds whatever the models learn: regret is
measured against the true optimum (so no method beats it), keeping the current price is never
worse than keeping the current price, the oracle's elasticity error is what the truth says it is,
and the Markdown block has the tables and the targets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pricing_assets.core.sources import load_source

from . import components
from .conftest import REPO

pytestmark = pytest.mark.slow
TODAY = "weekly forecast + list-price response (today)"  # bench/decision_quality.py's METHODS[0]: the product's way
RESPONSE = "list-price response (pooled, shrunk) + observed mix"  # its METHODS[1]


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    components.require("dev-data")
    out = tmp_path_factory.mktemp("decision") / "decision_quality.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRICING_") or k == "PRICING_DEV_DATA"}
    args = [
        sys.executable,
        str(REPO / "bench" / "decision_quality.py"),
        "--quick",
        "--output",
        str(out),
        "--data",
        str(components.dev_data_file()),
    ]
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text()), proc.stdout


def test_every_method_is_scored_in_every_setting_against_the_truth(quick) -> None:
    result, _ = quick
    store = result["store"]
    assert not store["errors"]
    for product in store["products"]:
        assert set(product["methods"]) == set(result["methods"])
        for method in product["methods"].values():
            assert set(method["regret"]) == set(result["settings"])
            # Regret is against the true optimum of the setting: nothing beats it (but float noise).
            assert min(method["regret"].values()) >= -1e-6
        kept = product["methods"]["keep the current price"]["prices"]
        assert set(kept.values()) == {product["current_list_price"]}
    summary = store["summary"]["methods"]
    for setting in result["settings"]:
        for method, scored in summary.items():
            # The share no worse than keeping the price, recomputed from the per-product regrets.
            expected = np.mean(
                [
                    p["methods"][method]["regret"][setting]
                    <= p["methods"]["keep the current price"]["regret"][setting] + 1e-9
                    for p in store["products"]
                ]
            )
            assert scored["settings"][setting]["no_worse_than_current"] == pytest.approx(expected)


def test_oracle_elasticity_error_is_the_spread_around_the_family_mean(quick) -> None:
    result, _ = quick
    truth = load_source("store", None, 7, 12).ground_truth.set_index("stock_code")
    codes = [p["stock_code"] for p in result["store"]["products"]]
    expected = float(np.mean(np.abs(truth.loc[codes, "elasticity"] - truth.loc[codes, "family_elasticity"])))
    assert result["store"]["summary"]["methods"]["family-mean oracle"]["elasticity_mae_all"] == pytest.approx(
        expected, abs=1e-4
    )


def test_real_part_reports_the_diagnostics(quick) -> None:
    result, _ = quick
    real = result["real"]["summary"]
    assert real["codes"] == 2 and real["fits"] + real["errors"] == 4
    for code in result["real"]["codes"]:
        for fit in code["cutoffs"].values():
            if "error" not in fit:
                assert fit["ratio_to_current"] == pytest.approx(fit["recommended_price"] / fit["current_list_price"])


def test_markdown_block_has_the_tables_and_targets(quick) -> None:
    _, markdown = quick
    for heading in ("**Store**", "**Calibration**", "**Real data**", "**Targets**"):
        assert heading in markdown
    assert TODAY in markdown and "family-mean oracle" in markdown


def test_real_codes_get_the_response_method_within_its_guardrail(quick) -> None:
    """On the dev file every code gets a list-price answer at each cut-off, inside the band and above cost."""
    result, _ = quick
    real = result["real"]
    for code in real["codes"]:
        for cutoff, answer in code["response"].items():
            assert "error" not in answer, (code["stock_code"], cutoff, answer)
            current, price = answer["current_list_price"], answer["recommended_price"]
            assert 0.85 * current - 0.005 <= price <= 1.15 * current + 0.005  # the default +/-15 % guardrail
            assert not answer["rises_with_price"]
    decisions = real["response_summary"]["decisions"]
    assert decisions["outside_guardrail"] == 0 and decisions["below_cost"] == 0
    assert abs(decisions["hold"] + decisions["increase"] + decisions["decrease"] - 1) < 1e-9


def test_response_only_scores_the_response_method_without_todays(tmp_path) -> None:
    """``--response-only`` (quick checks of a price-response change): no lineage is trained, the
    response method and the reference rows are scored on the store as in the full run."""
    out = tmp_path / "response_only.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRICING_")}
    args = [sys.executable, str(REPO / "bench" / "decision_quality.py"), "--response-only", "--products", "12"]
    args += ["--real-codes", "0", "--output", str(out)]
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(out.read_text())
    assert result["response_only"] is True and "real" not in result
    store = result["store"]
    assert not store["errors"] and store["products"]
    for product in store["products"]:
        assert TODAY not in product["methods"]
        response = product["methods"]["list-price response (pooled, shrunk) + observed mix"]
        assert set(response["regret"]) == set(result["settings"]) and min(response["regret"].values()) >= -1e-6
    assert store["summary"]["methods"][TODAY]["products"] == 0


def test_perfect_prior_row_answers_with_the_products_rule(quick) -> None:
    """The ceiling row puts the family-mean oracle's posterior into ``recommend``: its elasticity is that
    posterior's, a hold keeps the current price, and a move stays within the setting's band."""
    result, _ = quick
    for product in result["store"]["products"]:
        posterior = product["methods"]["family-mean oracle + own list changes"]
        rule = product["methods"]["family-mean oracle + own list changes, the product's rule"]
        assert rule["elasticity"] == pytest.approx(posterior["elasticity"])
        assert rule["elasticity_sd"] == pytest.approx(posterior["elasticity_sd"])
        # What the product's rule takes for today's price: the list it inferred from the lines.
        current = product["methods"][RESPONSE]["inferred_current_list_price"]
        for setting in result["settings"]:
            price = rule["prices"][setting]
            if rule["hold"][setting]:
                assert price == pytest.approx(current, abs=0.01)
            elif setting.endswith("15"):
                assert 0.85 * current - 0.005 <= price <= 1.15 * current + 0.005
