"""``pricing run --costs`` and the list-price recommendation in what ``pricing run`` prints and writes."""

import json

import boto3
import pytest

from pricing_assets.core.bundle import read_bundle
from pricing_assets.core.store import LocalArtifactStore
from pricing_assets.core.synthetic import SyntheticConfig, generate

from .conftest import PROMOTED_STOCKCODES
from .test_cli import run_cli

pytestmark = pytest.mark.slow


def synthetic_costs() -> dict[str, float]:
    """A unit cost for every product of the 4-product synthetic source the CLI tests run on: 0.4 x its median price."""
    raw, _ = generate(SyntheticConfig(seed=7, n_products=4))
    medians = raw[raw["UnitPrice"] > 0].groupby("StockCode")["UnitPrice"].median()
    return {str(code): round(0.4 * float(price), 2) for code, price in medians.items()}


def test_costs_flag_sets_the_unit_costs_and_the_run_prints_the_recommendation(tmp_path):
    costs = synthetic_costs()
    path = tmp_path / "costs.csv"
    path.write_text("stockcode,unit_cost\n" + "".join(f"{code},{cost}\n" for code, cost in costs.items()))
    # A product the lineage promotes (conftest.PROMOTED_STOCKCODES), so its bundle carries the recommendation.
    out = str(tmp_path / "out.json")
    proc = run_cli(tmp_path, "--stockcodes", PROMOTED_STOCKCODES[0], "--costs", str(path), "--json", out)
    assert proc.returncode == 0, proc.stderr
    (outcome,) = json.loads((tmp_path / "out.json").read_text())["stockcodes"]
    code, rec = outcome["stockcode"], outcome["recommendation"]
    # The file's cost, not the assumed ratio: the flag reached the asset.
    assert rec["unit_cost"] == costs[code] and rec["cost_assumed"] is False
    # What the JSON says is what was promoted and what serving returns.
    bundle = read_bundle(LocalArtifactStore(tmp_path / ".pricing" / "store"), code)
    assert rec == bundle.manifest["recommendation"]
    # The progress line: current -> recommended, the decision, the expected change with its interval.
    current, chosen = rec["current_list_price"], rec["recommended_list_price"]
    change = rec["expected_change"][rec["objective"]]
    line = next(ln for ln in proc.stderr.splitlines() if f"{code}: list price " in ln)
    assert f"{current:.2f} → {chosen:.2f}" in line
    assert f"{rec['objective']}/week {change['mean']:+.2f} " in line
    assert f"({change['interval'][0]:+.2f} to {change['interval'][1]:+.2f})" in line
    assert (f"hold: {rec['hold_reason']}" if rec["hold"] else rec["action"]) in line
    assert f"unit cost {costs[code]:.2f}" in line and "(assumed)" not in line
    # The summary table's columns, on the stockcode's row.
    for column in ("list price", "expected change/week", "decision"):
        assert column in proc.stdout
    row = next(ln for ln in proc.stdout.splitlines() if ln.startswith(f"│ {code} "))
    assert f"{current:.2f} → {chosen:.2f}" in row
    expected = (
        f"{rec['objective']} {change['mean']:+.2f} ({change['interval'][0]:+.2f} to {change['interval'][1]:+.2f})"
    )
    assert expected in row
    assert ("hold: " if rec["hold"] else rec["action"]) in row


@pytest.mark.parametrize(
    "content,name,message",
    [
        (None, "missing.csv", "does not exist"),
        ("stockcode,unit_cost\n85123A,1.2\n", "costs.xlsx", "must be a .csv with columns stockcode,unit_cost"),
        ("stockcode,cost\n85123A,1.2\n", "costs.csv", "lacks column(s) ['unit_cost']"),
        ("stockcode,unit_cost\n85123A,-1\n22423,abc\n", "costs.csv", "not positive numbers for ['85123A', '22423']"),
    ],
)
@pytest.mark.parametrize("given_as", ["--costs", "PRICING_COSTS"])
def test_a_bad_costs_file_exits_2_before_anything_runs(tmp_path, content, name, message, given_as):
    folder = tmp_path / "files"
    folder.mkdir()
    path = folder / name
    if content is not None:
        path.write_text(content)
    project = tmp_path / "project"
    if given_as == "--costs":
        proc = run_cli(project, "--top", "1", "--costs", str(path))
    else:
        proc = run_cli(project, "--top", "1", env_extra={"PRICING_COSTS": str(path)})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and f"({given_as})" in proc.stderr and "Traceback" not in proc.stderr
    assert "a CSV with columns stockcode,unit_cost" in proc.stderr  # what to fix
    assert not (project / ".pricing").exists()  # nothing loaded, registered or written


def test_a_costs_file_in_s3_is_read_before_anything_runs(tmp_path, moto_s3, s3_bucket):
    client = boto3.client("s3", endpoint_url=moto_s3)
    client.put_object(Bucket=s3_bucket, Key="costs/bad.csv", Body=b"stockcode,cost\n85123A,1.2\n")
    s3 = {"AWS_ENDPOINT_URL_S3": moto_s3}
    for key, message in (("costs/bad.csv", "lacks column(s) ['unit_cost']"), ("costs/none.csv", "cannot be read")):
        proc = run_cli(tmp_path, "--top", "1", "--costs", f"s3://{s3_bucket}/{key}", env_extra=s3)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert message in proc.stderr and f"s3://{s3_bucket}/{key}" in proc.stderr and "Traceback" not in proc.stderr
        assert not (tmp_path / ".pricing").exists()
