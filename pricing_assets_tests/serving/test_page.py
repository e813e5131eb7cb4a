"""The web page, rendered by headless Chromium against the running API (screenshots kept)."""

import subprocess

import httpx
import pytest

from ..components import chromium_path, require
from ..conftest import ARTIFACTS
from .conftest import api_server

pytestmark = pytest.mark.slow


def chromium(*args: str) -> str:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000"]
    command = [str(chromium_path()), *flags, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120).stdout


def test_page_draws_the_curve_with_the_optimum_and_links_the_lineage(promoted_project):
    require("chromium")
    code = sorted(p.name for p in (promoted_project / ".pricing" / "store" / "promoted").iterdir())[0]
    ARTIFACTS.mkdir(exist_ok=True)
    with api_server(promoted_project) as url:
        answer = httpx.get(f"{url}/v1/predict-price/{code}").json()
        dom = chromium("--dump-dom", f"{url}/?stockcode={code}")
        chromium("--window-size=1000,820", f"--screenshot={ARTIFACTS / 'serving_page.png'}", f"{url}/?stockcode={code}")
        bad = chromium("--dump-dom", f"{url}/?stockcode=99999Z")
    assert f'<option value="{code}">' in dom
    assert 'data-role="sales"' in dom and 'data-role="interval"' in dom and 'data-role="optimum"' in dom
    assert f"{code}: optimal price {answer['optimal_price']:.2f}" in dom  # the page shows what the API says
    assert f"optimal {answer['optimal_price']:.2f}" in dom and f">{answer['model_version']}</a>" in dom
    assert f'href="/v1/lineage/{code}"' in dom
    # The list-price recommendation: current -> recommended with its verdict, as the API gives it.
    rec = answer["recommendation"]
    verdict = f"hold: {rec['hold_reason']}" if rec["hold"] else rec["action"]
    assert f"{rec['current_list_price']:.2f} \u2192 {rec['recommended_list_price']:.2f} ({verdict}" in dom
    assert "Expected weekly margin change of the move" in dom
    assert "https://" not in dom.split("<script>")[0]  # no CDN: works offline
    assert (ARTIFACTS / "serving_page.png").stat().st_size > 10_000
    assert "no promoted model" in bad  # the error is shown, not an empty chart
