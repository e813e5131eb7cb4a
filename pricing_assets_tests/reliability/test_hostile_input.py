"""Hostile input to the serving API: path parameters built to escape or confuse (``../``, encoded
separators, control characters, unicode, invalid UTF-8, very long), out-of-range and malformed
query parameters, oversized requests. Each gets a 4xx that names the problem, and changes
nothing: the store's bytes, the Redis cache and the server's health are the same afterwards.

Requests are sent as raw bytes on a socket, so no client normalises ``..`` or re-encodes the
path before the server sees it. The few cases in ``serving/test_api.py`` (a space, 70
characters, an accented code, min above max, bins out of range) are not repeated.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from ..serving.conftest import api_process
from .support import promoted_codes, raw_http, redis_process, rss_bytes, snapshot, store_root

pytestmark = [pytest.mark.slow, pytest.mark.reliability]
PREDICT = "/v1/predict-price/"
BAD_CODE = "invalid stockcode"

PATHS = [
    (PREDICT + "../../etc/passwd", 404, "Not Found"),
    (PREDICT + "..%2F..%2Fetc%2Fpasswd", 404, "Not Found"),
    ("/v1/lineage/%2e%2e", 422, BAD_CODE),
    ("/v1/lineage/..%5C..%5Cwindows%5Cwin.ini", 422, BAD_CODE),
    (PREDICT + "{code}%00", 422, BAD_CODE),
    (PREDICT + "{code}%0D%0ASet-Cookie:%20session=stolen", 422, BAD_CODE),
    (PREDICT + "%1B%5B31mred", 422, BAD_CODE),
    (PREDICT + "%E2%80%AE{code}", 422, BAD_CODE),
    (PREDICT + "%F0%9F%92%A5", 422, BAD_CODE),
    (PREDICT + "%FF%FE%C0%AE", 422, BAD_CODE),
    (PREDICT + "*", 422, BAD_CODE),
    (PREDICT + "current.json", 422, BAD_CODE),
    (PREDICT + "-{code}", 422, BAD_CODE),
    (PREDICT + "A" * 1500, 422, BAD_CODE),
    (PREDICT + "A" * 5000, 414, "the limit is 2048"),
]
QUERIES = [
    ("unitprice_min=nan", "unitprice_min"),
    ("unitprice_max=inf", "unitprice_max"),
    ("unitprice_min=-1e308", "unitprice_min"),
    ("unitprice_min=0.001", "greater than or equal to 0.01"),
    ("unitprice_max=1e400", "unitprice_max"),
    ("unitprice_min=%00", "unitprice_min"),
    ("unitprice_min=0x10", "unitprice_min"),
    ("num_price_bins=1001", "num_price_bins"),
    ("num_price_bins=0", "num_price_bins"),
    ("num_price_bins=-5", "num_price_bins"),
    ("num_price_bins=2.5", "num_price_bins"),
    ("num_price_bins=1e3", "num_price_bins"),
    ("num_price_bins=" + "9" * 400, "num_price_bins"),
    ("objective=REVENUE", "objective"),
    ("objective=margin&unit_cost=-1", "unit_cost"),
    ("objective=margin&unit_cost=1e7", "unit_cost"),
    ("unitprice_min=2&unitprice_max=2", "must be below unitprice_max"),
    ("unitprice_min=0.5&unitprice_max=0.5000000000000001", "too close"),
    ("num_price_bins=10&" + "x=1&" * 600, "the limit is 2048"),
]
OVERSIZED = [
    ("a 100 kB header", b"X-Padding: " + b"a" * 100_000 + b"\r\n", b"GET", b"", 431, "headers"),
    ("a 1 MB body on a GET", b"Content-Length: 1000000\r\n", b"GET", b"x" * 1_000_000, 413, "no request body"),
    ("a chunked body", b"Transfer-Encoding: chunked\r\n", b"GET", b"5\r\nhello\r\n0\r\n\r\n", 413, "no request body"),
    ("a POST with a body", b"Content-Length: 2\r\n", b"POST", b"{}", 413, "no request body"),
    ("a DELETE", b"", b"DELETE", b"", 405, "Method Not Allowed"),
    ("a PUT", b"", b"PUT", b"", 405, "Method Not Allowed"),
]

OVERSIZED_IDS = [o[0] for o in OVERSIZED]


@pytest.fixture(scope="module")
def served(promoted_project, tmp_path_factory):
    """The API with a Redis cache of its own, so cache writes can be counted."""
    with (
        redis_process(tmp_path_factory.mktemp("redis")) as redis_url,
        api_process(promoted_project, REDIS_URL=redis_url) as server,
    ):
        yield promoted_project, server, redis.Redis.from_url(redis_url)


def untouched(served, send):
    """Send a hostile request; assert the store, the cache and the server are as they were."""
    project, server, cache = served
    before_store, before_keys = snapshot(store_root(project)), sorted(cache.keys())
    answer = send()
    assert snapshot(store_root(project)) == before_store
    assert sorted(cache.keys()) == before_keys
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert "Traceback" not in server.log() and "Exception in ASGI application" not in server.log()
    return answer


def port_of(server) -> int:
    return int(server.url.rsplit(":", 1)[1])


@pytest.mark.parametrize("target,status,message", PATHS, ids=[p[0][:40] for p in PATHS])
def test_hostile_path_parameters(served, target, status, message):
    _, server, _ = served
    code = promoted_codes(served[0])[0]
    got, headers, body = untouched(served, lambda: raw_http(port_of(server), target.format(code=code).encode()))
    assert got == status and message in json.loads(body)["detail"]
    assert "set-cookie" not in headers


@pytest.mark.parametrize("query,message", QUERIES, ids=[q[0][:40] for q in QUERIES])
def test_out_of_range_and_malformed_query_parameters(served, query, message):
    _, server, _ = served
    code = promoted_codes(served[0])[0]
    target = f"{PREDICT}{code}?{query}".encode()
    status, _, body = untouched(served, lambda: raw_http(port_of(server), target))
    assert status in (414, 422) and message in body


@pytest.mark.parametrize("headers,method,body,status,message", [o[1:] for o in OVERSIZED], ids=OVERSIZED_IDS)
def test_oversized_requests(served, headers, method, body, status, message):
    _, server, _ = served
    code = promoted_codes(served[0])[0]
    target = f"{PREDICT}{code}".encode()
    got, _, answer = untouched(served, lambda: raw_http(port_of(server), target, headers, method, body))
    assert got == status and message in answer


def test_a_path_too_long_for_the_http_parser_is_a_400(served):
    _, server, _ = served
    status, _, body = untouched(served, lambda: raw_http(port_of(server), (PREDICT + "A" * 100_000).encode()))
    assert status in (400, 414) and body


def test_valid_requests_still_answer_and_are_cached_after_the_hostile_ones(served):
    project, server, cache = served
    code = promoted_codes(project)[0]
    first = httpx.get(f"{server.url}{PREDICT}{code}", params={"num_price_bins": 12})
    second = httpx.get(f"{server.url}{PREDICT}{code}", params={"num_price_bins": 12})
    assert (first.status_code, first.headers["x-cache"], second.headers["x-cache"]) == (200, "miss", "hit")
    assert len(cache.keys("pricing:v4:*")) >= 1


@pytest.mark.parametrize("curve_source", ["list_price_response", "demand_model"])
def test_a_burst_of_the_largest_curves_is_answered_within_bounded_memory(served, curve_source):
    """Sixteen 1000-bin curves at once (either curve holds ~16 MB while computed): all answered, and the
    server's peak memory grows by far less than sixteen, since only so many are computed at once."""
    project, server, _ = served
    codes = promoted_codes(project)
    for code in codes:  # bundles and models loaded first: only the computations are measured
        httpx.get(
            f"{server.url}{PREDICT}{code}", params={"num_price_bins": 3, "curve_source": curve_source}
        ).raise_for_status()
    before = rss_bytes(server.process.pid, "VmHWM")

    def largest(i: int) -> httpx.Response:
        params = {"num_price_bins": 1000, "unitprice_min": 0.5 + i / 100, "unitprice_max": 9.0}
        params["curve_source"] = curve_source
        return httpx.get(f"{server.url}{PREDICT}{codes[i % len(codes)]}", params=params, timeout=300)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(largest, range(16)))
    growth = rss_bytes(server.process.pid, "VmHWM") - before
    print(f"16 x 1000-bin {curve_source} curves at once: peak memory grew by {growth / 2**20:.0f} MB")
    assert [a.status_code for a in answers] == [200] * 16
    assert all(len(a.json()["curve"]) == 1000 and a.headers["x-cache"] == "miss" for a in answers)
    assert growth < 300 * 2**20, f"peak memory grew by {growth / 2**20:.0f} MB"
