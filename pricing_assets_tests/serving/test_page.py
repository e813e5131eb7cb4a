"""The web page, rendered by headless Chromium against the running API (screenshots kept)."""

import re
import subprocess
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from pricing_assets.core.recommendation import short_of_best, verdict

from ..components import chromium_path, require
from ..conftest import ARTIFACTS
from .conftest import api_server, elastic_copy

pytestmark = pytest.mark.slow


def chromium(*args: str) -> str:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000"]
    command = [str(chromium_path()), *flags, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120).stdout


def marker_price(dom: str, role: str) -> str | None:
    """The price a vertical marker of the chart stands at (its data-price), None when it is not drawn."""
    found = re.search(rf'<line [^>]*data-role="{role}"[^>]*data-price="([0-9.]+)"', dom)
    return found.group(1) if found else None


def test_page_draws_the_response_curve_with_the_verdict_and_links_the_lineage(promoted_project, tmp_path):
    """A held recommendation: a product whose elasticity is too uncertain for the margin gain to be sure."""
    require("chromium")
    unsure = elastic_copy(promoted_project, tmp_path / "unsure", elasticity=-2.0, standard_error=1.0)
    code = unsure.code
    ARTIFACTS.mkdir(exist_ok=True)
    with api_server(unsure.project) as url:
        answer = httpx.get(f"{url}/v1/predict-price/{code}").json()
        dom = chromium("--dump-dom", f"{url}/?stockcode={code}")
        chromium("--window-size=1000,820", f"--screenshot={ARTIFACTS / 'serving_page.png'}", f"{url}/?stockcode={code}")
        bad = chromium("--dump-dom", f"{url}/?stockcode=99999Z")
        model = httpx.get(f"{url}/v1/predict-price/{code}", params={"curve_source": "demand_model"}).json()
        by_model = chromium("--dump-dom", f"{url}/?stockcode={code}&curve_source=demand_model")
    rec = answer["recommendation"]
    assert answer["curve_source"] == "list_price_response" and rec["hold"]
    assert f'<option value="{code}">' in dom
    assert 'data-role="objective"' in dom and 'data-role="interval"' in dom and 'data-role="guardrail"' in dom
    assert f'data-objective="{answer["objective"]}"' in dom and "wholesale list price (GBP)" in dom
    # Both list prices marked where the API puts them, and the verdict with its reason.
    assert marker_price(dom, "current-list") == f"{rec['current_list_price']:.2f}"
    assert marker_price(dom, "recommended-list") == f"{rec['recommended_list_price']:.2f}"
    verdict = f"hold: {rec['hold_reason']}"
    arrow = f"{rec['current_list_price']:.2f} \u2192 {rec['recommended_list_price']:.2f}"
    assert f'<p id="verdict" class="hold">List price {arrow}: {verdict}</p>' in dom
    assert f"{code}: recommended list price {rec['recommended_list_price']:.2f} ({verdict})" in dom
    not_made = f"change of the move not made (to {rec['best_list_price_in_band']:.2f})"
    assert f"Expected weekly {rec['objective']} {not_made}" in dom
    assert f"curve's best {answer['optimal_price']:.2f}" in dom and f">{answer['model_version']}</a>" in dom
    assert f'href="/v1/lineage/{code}"' in dom
    assert "https://" not in dom.split("<script>")[0]  # no CDN: works offline
    assert (ARTIFACTS / "serving_page.png").stat().st_size > 10_000
    assert "no promoted model" in bad  # the error is shown, not an empty chart
    assert "list-price response: the promoted forecast of next week" in dom and "Model</dt>" not in dom
    # The demand model's curve, asked for from the link: the model that forecast it is named, on list prices too.
    assert f"demand model: {model['model']}'s forecast of next week made again" in by_model
    assert f"Model</dt><dd>{model['model']}</dd>" in by_model and "wholesale list price (GBP)" in by_model
    assert '<option value="demand_model">' in by_model and "per order line" not in by_model + dom


def test_page_controls_ask_for_objective_guardrail_and_cost_and_mark_the_move(promoted_project, tmp_path):
    """An elastic bundle: the page's objective, guardrail, unit cost and gain confidence (filled from its link)
    reach the API, and the chart marks the current and the recommended list price apart, with the move as
    the verdict."""
    require("chromium")
    bundle = elastic_copy(promoted_project, tmp_path / "elastic")
    asked = {"objective": "margin", "guardrail": "0.12", "unit_cost": str(bundle.unit_cost)}
    with api_server(bundle.project) as url:
        answer = httpx.get(f"{url}/v1/predict-price/{bundle.code}", params=asked).json()
        page = f"{url}/?{urlencode({'stockcode': bundle.code, **asked})}"
        dom = chromium("--dump-dom", page)
        chromium("--window-size=1000,820", f"--screenshot={ARTIFACTS / 'serving_page_move.png'}", page)
        link = {"stockcode": bundle.code, "objective": "revenue", "gain_confidence": "0.9"}
        capped = chromium("--dump-dom", f"{url}/?{urlencode(link)}")
    rec = answer["recommendation"]
    assert (rec["hold"], rec["capped"], rec["action"]) == (False, False, "increase")
    assert marker_price(dom, "current-list") == f"{rec['current_list_price']:.2f}"
    assert marker_price(dom, "recommended-list") == f"{rec['recommended_list_price']:.2f}"
    assert marker_price(dom, "current-list") != marker_price(dom, "recommended-list")
    arrow = f"{rec['current_list_price']:.2f} \u2192 {rec['recommended_list_price']:.2f}"
    # Well measured, the move stops a few pence short of the estimate's best, where the gain is surest: the
    # page says so in the words pricing run and the Dagster UI use.
    assert short_of_best(rec) and rec["recommended_list_price"] < rec["best_list_price_in_band"]
    assert f'<p id="verdict" class="move">List price {arrow}: {verdict(rec)}</p>' in dom
    assert verdict(rec).startswith("increase, short of the estimate's best ")
    assert f"Unit cost</dt><dd>{bundle.unit_cost:.2f}</dd>" in dom  # the page's cost, not the bundle's
    assert f"Guardrail</dt><dd>{rec['guardrail'][0]:.2f} to {rec['guardrail'][1]:.2f}</dd>" in dom  # the page's 0.12
    assert "capped by the guardrail" not in dom.split("<script>")[0]
    # The same bundle for revenue: elastic demand wants a lower price than the guardrail allows.
    assert re.search(
        r'<p id="verdict" class="capped">List price [0-9.]+ \u2192 [0-9.]+: decrease, capped by the guardrail</p>',
        capped,
    )
    # The link's gain confidence reached the API, and the answer says what it was judged on.
    assert "Gain confidence</dt><dd>a move must gain on 90.0 % of the elasticity's draws</dd>" in capped
    assert "Gain confidence</dt><dd>a move must gain on 97.5 % of the elasticity's draws</dd>" in dom
    # How sure the move is: the share of the draws on which it gains, at least the confidence asked.
    share = f"{100 * rec['gain_probability']:.1f} %"
    assert (
        f"The move gains on</dt><dd>{share} of the elasticity's draws</dd>" in dom and rec["gain_probability"] >= 0.97
    )


def test_page_behind_a_token_lists_and_draws_once_the_token_is_typed(promoted_project):
    """With PRICING_API_TOKEN set the page's first listing is a 401 (no token typed yet) and the stockcode select,
    which the form requires, stays empty: typing the token must list the stockcodes again with it, draw the
    linked stockcode's curve and keep the token for the tab's session."""
    require("chromium")
    code, token = "63755", "page-s3cret"
    with api_server(promoted_project, PRICING_API_TOKEN=token) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{url}/?stockcode={code}")
            expect(page.locator("#status")).to_have_text("401: missing or wrong bearer token", timeout=60_000)
            assert page.locator("#stockcode option").count() == 0 and page.locator("#chart *").count() == 0
            page.locator("#token").fill(token)
            page.locator("#token").press("Tab")  # leaving the field commits it (its change event), as a person does
            expect(page.locator('#chart [data-role="objective"]')).to_have_count(1, timeout=60_000)
            expect(page.locator("#status")).to_contain_text(f"{code}: recommended list price", timeout=60_000)
            listed = page.locator("#stockcode option").evaluate_all("options => options.map(o => o.value)")
            chosen = page.locator("#stockcode").input_value()
            kept = page.evaluate("() => sessionStorage.getItem('pricing-token')")
        finally:
            browser.close()
    assert listed == sorted(p.name for p in (promoted_project / ".pricing" / "store" / "promoted").iterdir())
    assert chosen == code and kept == token
