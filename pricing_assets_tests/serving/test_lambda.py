"""The Lambda handler answers API Gateway REST (v1) and HTTP API (v2) events with the same app."""

import importlib
import json

import pytest

from pricing_assets.core.bundle import promoted_stockcodes
from pricing_assets.core.store import LocalArtifactStore

pytestmark = pytest.mark.slow


class Context:
    function_name = "pricing"
    aws_request_id = "req-1"


@pytest.fixture
def handler(promoted_project, monkeypatch):
    monkeypatch.setenv("PRICING_PROJECT_DIR", str(promoted_project))
    import serving.lambda_handler as module

    return importlib.reload(module).handler


def rest_event(path: str, query: dict) -> dict:
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": {"Host": "api.example"},
        "multiValueHeaders": {"Host": ["api.example"]},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
        "pathParameters": None,
        "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": "GET", "path": path, "stage": "prod"},
        "body": None,
        "isBase64Encoded": False,
    }


def http_event(path: str, query: str) -> dict:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": "api.example"},
        "requestContext": {"http": {"method": "GET", "path": path, "sourceIp": "10.0.0.1"}, "stage": "$default"},
        "isBase64Encoded": False,
    }


def test_rest_and_http_api_events(handler, promoted_project):
    code = promoted_stockcodes(LocalArtifactStore(promoted_project / ".pricing" / "store"))[0]
    rest = handler(rest_event(f"/v1/predict-price/{code}", {"num_price_bins": "7"}), Context())
    assert rest["statusCode"] == 200
    assert len(json.loads(rest["body"])["curve"]) == 7
    http = handler(http_event(f"/v1/predict-price/{code}", "num_price_bins=9"), Context())
    assert http["statusCode"] == 200 and len(json.loads(http["body"])["curve"]) == 9
    missing = handler(http_event("/v1/predict-price/99999Z", ""), Context())
    assert missing["statusCode"] == 404
