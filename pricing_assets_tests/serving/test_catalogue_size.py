"""Serving at catalogue size: bundles load when asked for, one request loads its own bundle only, what is
loaded stays within PRICING_SERVING_BUNDLE_BYTES, and /v1/stockcodes pages and filters the catalogue."""

import shutil

import httpx
import pytest

from pricing_assets.core.bundle import read_bundle, write_bundle
from pricing_assets.core.store import LocalArtifactStore

from .conftest import api_server

pytestmark = pytest.mark.slow
COPIES = 24


@pytest.fixture(scope="module")
def catalogue(promoted_project, tmp_path_factory):
    """The promoted project plus COPIES copies of its first bundle promoted under stockcodes CAT000, CAT001, ..."""
    project = tmp_path_factory.mktemp("catalogue") / "project"
    shutil.copytree(promoted_project / ".pricing" / "store", project / ".pricing" / "store")
    store = LocalArtifactStore(project / ".pricing" / "store")
    originals = sorted(p.name for p in (project / ".pricing" / "store" / "promoted").iterdir())
    bundle = read_bundle(store, originals[0])
    added = ("stock_code", "version", "lineage_id", "run_id", "artifacts")  # write_bundle adds these
    manifest = {k: v for k, v in bundle.manifest.items() if k not in added}
    copies = [f"CAT{i:03d}" for i in range(COPIES)]
    for code in copies:
        write_bundle(store, code, dict(bundle.files), manifest, f"00000000-0000-0000-0000-{code.lower():0>12}")
    return project, sorted(originals + copies)


def loaded(url) -> dict[str, str]:
    return httpx.get(f"{url}/readyz").json()["loaded"]


def test_no_request_loads_more_than_its_own_bundle(catalogue):
    project, codes = catalogue
    with api_server(project) as url:
        assert loaded(url) == {}  # nothing at start-up
        pages, offset = [], 0
        while offset is not None:  # the whole catalogue, 5 at a time: listing loads nothing
            page = httpx.get(f"{url}/v1/stockcodes", params={"offset": offset, "limit": 5}).json()
            assert page["total"] == len(codes) and len(page["stockcodes"]) <= 5 and page["loaded"] == {}
            pages.append(page["stockcodes"])
            offset = page["next_offset"]
        assert [code for page in pages for code in page] == codes and len(pages) == -(-len(codes) // 5)
        assert loaded(url) == {}
        first, second, third = codes[3], codes[11], codes[-1]
        assert httpx.get(f"{url}/v1/predict-price/{first}").status_code == 200
        assert set(loaded(url)) == {first}
        assert httpx.get(f"{url}/v1/lineage/{second}").status_code == 200
        assert set(loaded(url)) == {first, second}
        model = httpx.get(f"{url}/v1/predict-price/{third}", params={"curve_source": "demand_model"})
        assert model.status_code == 200 and set(loaded(url)) == {first, second, third}
        assert httpx.get(f"{url}/v1/predict-price/{first}", params={"num_price_bins": 7}).status_code == 200
        assert set(loaded(url)) == {first, second, third}  # its own bundle again, nothing new
        # The listing says which of its page are loaded; the filter is a prefix, any case.
        listed = httpx.get(f"{url}/v1/stockcodes", params={"prefix": "cat00"}).json()
        assert listed["stockcodes"] == [c for c in codes if c.startswith("CAT00")] and listed["next_offset"] is None
        assert listed["loaded"] == {c: v for c, v in loaded(url).items() if c.startswith("CAT00")}
        assert httpx.get(f"{url}/v1/stockcodes", params={"limit": 0}).status_code == 422
        assert httpx.get(f"{url}/v1/stockcodes", params={"prefix": "../x"}).status_code == 422


def test_loaded_bundles_stay_within_the_byte_limit_and_a_dropped_one_answers_again(catalogue):
    project, codes = catalogue
    limit = 2**20  # the smallest allowed: a few synthetic bundles
    with api_server(project, PRICING_SERVING_BUNDLE_BYTES=str(limit)) as url:
        first = httpx.get(f"{url}/v1/predict-price/{codes[0]}", params={"num_price_bins": 9}).json()
        one = httpx.get(f"{url}/readyz").json()["loaded_bytes"]
        assert 0 < one <= limit, one
        for code in codes[1:]:
            assert httpx.get(f"{url}/v1/predict-price/{code}", params={"num_price_bins": 9}).status_code == 200
            ready = httpx.get(f"{url}/readyz").json()
            assert ready["loaded_bytes"] <= limit and ready["loaded_bytes_limit"] == limit
            assert code in ready["loaded"]  # the one just asked for is kept
        assert len(ready["loaded"]) < len(codes) and ready["evicted"] == len(codes) - len(ready["loaded"])
        assert codes[0] not in ready["loaded"]  # the least recently used went first
        again = httpx.get(f"{url}/v1/predict-price/{codes[0]}", params={"num_price_bins": 9}).json()
        assert {k: v for k, v in again.items() if k != "cached"} == {k: v for k, v in first.items() if k != "cached"}
        assert codes[0] in loaded(url)  # read and verified again
