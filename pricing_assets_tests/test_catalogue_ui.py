"""The catalogue report in the Dagster UI, rendered by headless Chromium (playwright) and screenshotted.

Issue 15 wants the ``catalogue_report`` asset to *show* in the UI, not only to be stored: a Markdown
table of the outcomes and a plot in its materialisation's metadata. This test opens the asset's page
on a real ``dagster-webserver`` over the shared promoted project (``pricing run --stockcodes 86140,63755`` on the
synthetic source at the suite's small budget, which ends by materialising ``catalogue_report``), so
it costs no lineage run of its own. The webserver gets a copy of that project's instance, since the
UI writes to it (the dismissed welcome dialog) and the shared project is read-only.

Dagster renders a Markdown entry inline when it is short (under 1,000 characters) and behind a
"[Show Markdown]" button otherwise; the plot, a base64 PNG, is always behind the button. The test
clicks where a person would.
"""

import io
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Locator, Page, expect, sync_playwright

from pricing_assets.core.catalogue import HELD, PROMOTED
from pricing_assets.core.store import LocalArtifactStore

from .components import chromium_path, require
from .conftest import free_port
from .deployment import BIN, Deployment, process_groups, wait_until_ready

pytestmark = pytest.mark.slow

# The first page load compiles the UI's JavaScript on a busy 2-core machine; every wait (page actions and
# expect, whose own default is 5 s) gets this much.
RENDER_TIMEOUT_MS = 90_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SETTLED = "() => document.getAnimations().every(animation => animation.playState !== 'running')"


@dataclass(frozen=True)
class CatalogueUI:
    url: str
    report: dict  # what the asset stored (assets/catalogue_report.json): the counts the UI must show


@pytest.fixture
def catalogue_ui(promoted_project: Path, tmp_path: Path) -> Iterator[CatalogueUI]:
    """dagster-webserver on a copy of the promoted project's instance, the welcome dialog dismissed."""
    require("chromium")
    home = tmp_path / "dagster_home"
    shutil.copytree(promoted_project / ".pricing" / "dagster_home", home, ignore=shutil.ignore_patterns("locks"))
    logs = tmp_path / "logs"
    logs.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")}
    env.update({"DAGSTER_HOME": str(home), "PRICING_PROJECT_DIR": str(promoted_project)})
    webserver = [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    deployment = Deployment(f"http://127.0.0.1:{port}", home, "", logs)
    with process_groups({"webserver": webserver}, env, logs) as procs:
        wait_until_ready(deployment, procs)
        assert deployment.graphql("mutation { setNuxSeen }")["setNuxSeen"] is True
        report = json.loads(
            LocalArtifactStore(promoted_project / ".pricing" / "store").get_bytes("assets/catalogue_report.json")
        )
        yield CatalogueUI(deployment.url, report)


def metadata_value(page: Page, key: str) -> Locator:
    """The value cell of the metadata row ``key`` in the asset's latest materialisation."""
    row = page.locator("tr").filter(has=page.locator("td").first.get_by_text(key, exact=True))
    expect(row, f"no metadata entry {key!r} on the asset's page").to_have_count(1, timeout=RENDER_TIMEOUT_MS)
    return row.locator(":scope > td").last  # not the cells of a table rendered inside it


def opened(page: Page, cell: Locator) -> Locator:
    """The rendered Markdown of a metadata cell: inline when Dagster shows it so, else the dialog it opens."""
    button = cell.get_by_text("[Show Markdown]", exact=True)
    if button.count() == 0:
        return cell.locator(".dagster-markdown")
    button.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    return dialog.locator(".dagster-markdown")


def table_rows(markdown: Locator) -> list[list[str]]:
    return [row.split("\t") for row in (r.inner_text().strip() for r in markdown.locator("tr").all()) if row]


def assert_real_screenshot(path: Path, width: int, height: int) -> None:
    """A PNG of the viewport's size with a real picture in it: not blank, not one flat colour."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 30_000, f"{path}: {len(data)} bytes"
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (width, height)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 100, "the screenshot is nearly flat"


def test_catalogue_report_shows_its_table_and_plot_in_the_ui(catalogue_ui: CatalogueUI, tmp_path: Path) -> None:
    outcomes = catalogue_ui.report["outcomes"]
    stockcodes = catalogue_ui.report["stockcodes"]
    assert stockcodes == 2  # the promoted project's two products
    width, height = 1400, 1500  # tall enough for the metadata table without scrolling
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(RENDER_TIMEOUT_MS)
            page.goto(f"{catalogue_ui.url}/assets/catalogue_report")
            expect(page.get_by_text("Latest materialization")).to_be_visible(timeout=RENDER_TIMEOUT_MS)

            # The Markdown table: the outcome counts the asset computed, as rendered table rows.
            summary = opened(page, metadata_value(page, "summary"))
            expect(summary.get_by_text(f"{stockcodes} stockcodes")).to_be_visible(timeout=RENDER_TIMEOUT_MS)
            rows = table_rows(summary)
            assert ["outcome", "stockcodes"] in rows
            assert ["promoted", str(outcomes[PROMOTED])] in rows and ["held", str(outcomes[HELD])] in rows, rows
            assert ["hold", str(catalogue_ui.report["recommendations"]["hold"])] in rows, rows
            table_shot = tmp_path / "catalogue_report_table.png"
            page.screenshot(path=table_shot)
            if page.get_by_role("dialog").count():
                page.keyboard.press("Escape")

            # The plot: an <img> of the PNG, decoded by the browser at its real size, shown in the dialog.
            plot = opened(page, metadata_value(page, "plot")).locator("img[alt=catalogue]")
            expect(plot).to_be_visible(timeout=RENDER_TIMEOUT_MS)
            page.wait_for_function(SETTLED)  # the dialog has finished fading in: the screenshot shows it opaque
            natural = plot.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]")
            assert natural[0] and natural[1] >= 1000 and natural[2] >= 300, natural  # 13 x 3.8 in at 100 dpi
            assert re.match(r"data:image/png;base64,", plot.get_attribute("src") or "")
            plot_shot = tmp_path / "catalogue_report_plot.png"
            page.screenshot(path=plot_shot)
        finally:
            browser.close()
    assert_real_screenshot(table_shot, width, height)
    assert_real_screenshot(plot_shot, width, height)
