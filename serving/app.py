"""The pricing API (FastAPI): curves, optimal prices, the list-price recommendation, lineage, and a small web page.

Every curve is over wholesale list prices: expected weekly units (all price lists), revenue and margin
at each list price, with 95 % bands. By default (``curve_source=list_price_response``) it is the response
the promoted recommendation maximises, made from the inputs the bundle keeps (the champion's forecast of
next week moved along the stockcode's price response), so the curve and the recommended price agree.
``curve_source=demand_model`` forecasts the bundled week again with the champion demand model (or the
first fallback that can answer) and moves that forecast along the same response. Bundles promoted before
the weekly demand models and the recommendation's inputs have no curve.

Start it with ``pricing serve`` or ``uvicorn serving.app:create_app --factory``. Configuration
comes from the same ``PRICING_*`` settings as the code location (store location, cache TTL,
token, CORS allow-list) plus ``REDIS_URL``.
"""

import json
import logging
import math
import re
import secrets
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from pricing_assets.core import pricing
from pricing_assets.core.forecast import NoModelAnsweredError
from pricing_assets.core.recommendation_inputs import served_part
from pricing_assets.core.stockcodes import STOCKCODE_KEY, InvalidStockcodeError, validate_stockcode
from pricing_assets.settings import Settings

from .cache import ResponseCache, cache_key
from .limits import MAX_HEADER_BYTES, MAX_URL_BYTES, ComputeBudget, RequestLimits
from .registry import BundleRegistry, NotPromotedError, open_serving_store

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
# Prices are in the currency of the source (pounds for the UCI data): below a penny or above a
# million, a demand model only extrapolates, and far enough out its quantities overflow.
MIN_PRICE = 0.01
MAX_PRICE = 1_000_000.0
# Cells (elasticity draws x prices, about 40 bytes each while computed) worked on at once across
# requests: a curve costs draws x bins (400 x 1000 at most, 16 MB), a recommendation made again draws x
# whole pence in its band. Eight of the largest curves or eighty default ones (100 bins) fit. Computing
# is CPU-bound, so on a few cores this costs no throughput. Cache hits never wait for it.
COMPUTE_BUDGET_CELLS = 3_200_000
# A request may ask for a recommendation that moves the list price at most half either way (wider is
# an operator's decision, PRICING_GUARDRAIL). Its cost is elasticity draws x whole pence in the band:
# at most this many cells per request, which a band of +/-50 % around a 100-pound list price with 400
# draws reaches.
MAX_GUARDRAIL = 0.5
# The gain confidence a request may ask (PRICING_GAIN_CONFIDENCE's range; on 400 draws 0.999 asks every draw to
# gain, the surest there is: recommendation.recommend takes the "lower" draw at that quantile, not an interpolation)
MIN_GAIN_CONFIDENCE, MAX_GAIN_CONFIDENCE = 0.5, 0.999
# Stockcodes per page of /v1/stockcodes (the dev file's whole catalogue, 600, fits in one).
MAX_PAGE = 1000
MAX_RECOMMENDATION_CELLS = 4_000_000
# The list-price response curve's default range: the current list price +/- this many times the guardrail
# share (the guardrail band sits in the middle of the curve, and the curve shows what lies beyond it), the
# lower end at least this share of the list (the constant-elasticity response explodes towards zero).
DEFAULT_RANGE_GUARDRAILS = 2.0
DEFAULT_RANGE_FLOOR = 0.5
# A real answer (from the dev file), its curve cut to three points: OpenAPI shows it, and the
# README's example is the same text.
EXAMPLE_ANSWER = json.loads((Path(__file__).resolve().parent / "example_answer.json").read_text())


class Objective(StrEnum):
    revenue = "revenue"
    margin = "margin"


class CurveSource(StrEnum):
    list_price_response = "list_price_response"
    demand_model = "demand_model"


class CurvePoint(BaseModel):
    """One wholesale list price of the curve and next week's expected outcome there, over every kind of
    line the list prices (list, quantity band, guest list); 95 % bands from the uncertainty of the price
    response (elasticity draws) and of the forecast level (the demand model's validation residuals)."""

    unit_price: float = Field(description="a wholesale list price")
    quantity: float = Field(description="expected units next week (registered and guest price lists together)")
    quantity_low: float = Field(description="lower end of the 95 % band of quantity")
    quantity_high: float = Field(description="upper end of the 95 % band of quantity")
    sales: float = Field(description="expected revenue next week, each kind of line at what it pays")
    sales_low: float = Field(description="lower end of the 95 % band of sales")
    sales_high: float = Field(description="upper end of the 95 % band of sales")
    margin: float = Field(description="expected margin next week: sales less unit_cost x quantity")
    margin_low: float = Field(description="lower end of the 95 % band of margin")
    margin_high: float = Field(description="upper end of the 95 % band of margin")


CURVE_FIELDS = tuple(CurvePoint.model_fields)
assert CURVE_FIELDS == pricing.CURVE_COLUMNS  # the hand-built answer keeps the published shape


class PriceAnswer(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_ANSWER]})

    stockcode: str
    curve_source: CurveSource = Field(
        description=(
            "which forecast the curve moves along the price response (both over wholesale list prices, "
            "expected weekly units, revenue and margin): list_price_response, the default, is the response "
            "the promoted recommendation is made on, from the champion's forecast kept with it (it peaks at "
            "the recommendation's best_list_price_in_band; a move stops there or short of it, where its gain "
            "is surest); demand_model forecasts the "
            "bundled week again with the champion demand model, or the first model of the fallback chain "
            "that can (model, fallback_used)"
        )
    )
    objective: Objective = Field(
        description="what optimal_price maximises over the curve: the request's objective, else the promoted "
        "recommendation's"
    )
    unit_cost: float = Field(
        description="the unit cost of the curve's margin: the request's, else the one the bundle's recommendation used"
    )
    curve: list[CurvePoint]
    optimal_price: float = Field(description="the curve's price with the highest objective")
    optimal_value: float = Field(description="the objective there")
    optimum_on_edge: bool = Field(description="whether optimal_price is an end of the range (the best may lie beyond)")
    model: str | None = Field(
        description="the demand model whose forecast of next week a demand_model curve moves along the response; "
        "null for list_price_response (the forecast promoted with the recommendation: the champion's, or the "
        "fallback's that recommendation.json's forecast_model names when the champion could not forecast)"
    )
    fallback_used: bool = Field(
        description="whether a model after the champion forecast a demand_model curve (the champion failed to load "
        "or forecast non-finite or implausible units; skipped_models says why)"
    )
    skipped_models: list[dict[str, str]] = Field(description="models of the fallback chain that could not answer, why")
    model_version: str
    lineage_id: str
    recommendation: dict[str, Any] | None = Field(
        None,
        description=(
            "The wholesale list-price recommendation promoted with the bundle: current and recommended "
            "list price, action (increase, decrease or hold) and the hold reason, capped, the guardrail, "
            "the optimal-price interval, the expected weekly change in units, revenue and margin with "
            "intervals, the share of the elasticity's draws on which the move (for a hold, the move not made) "
            "gains, the elasticity with its interval and own weight, the unit cost (and whether it "
            "was assumed), the guest list price that follows. As promoted, unless the request names an "
            "objective, guardrail, unit_cost or gain_confidence: then made again for them (recommendation_recomputed)."
        ),
    )
    recommendation_recomputed: bool = Field(
        False,
        description=(
            "whether the recommendation was made for this request's objective, guardrail, unit_cost or gain_confidence"
        ),
    )
    cached: bool


class StockcodeList(BaseModel):
    stockcodes: list[str] = Field(description="promoted stockcodes matching the filter, sorted, this page of them")
    total: int = Field(description="how many promoted stockcodes match the filter")
    offset: int = Field(description="the position of this page's first stockcode among those that match")
    limit: int = Field(description="the most stockcodes a page holds")
    next_offset: int | None = Field(description="the offset of the next page; null on the last")
    loaded: dict[str, str] = Field(description="the version in memory of each stockcode of this page that is loaded")


class Problem(BaseModel):
    """Every error: a sentence that names the problem, or FastAPI's list of invalid parameters."""

    detail: str | list[dict[str, Any]]


class Readiness(BaseModel):
    store: str
    store_error: str | None
    refused: dict[str, dict[str, str]]
    promoted: int
    loaded: dict[str, str]
    loaded_bytes: int = Field(description="what the loaded bundles hold in memory, roughly")
    loaded_bytes_limit: int = Field(description="PRICING_SERVING_BUNDLE_BYTES: beyond it the least recently used go")
    evicted: int = Field(description="bundles dropped from memory to stay within the limit since start")
    cache: str
    redis: bool | None


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "a token is configured and the request has not got it"},
    404: {"model": Problem, "description": "no promoted model for this stockcode"},
    422: {
        "model": Problem,
        "description": "invalid stockcode or parameters, or a bundle promoted before the weekly demand models "
        "(it keeps no recommendation inputs or no week to forecast, so it has no curve)",
    },
    503: {"model": Problem, "description": "the store cannot be read and nothing is loaded, or no model could answer"},
}
# What RequestLimits answers, on any route.
REQUEST_LIMITS: dict[int | str, dict[str, Any]] = {
    413: {"model": Problem, "description": "the request has a body: every parameter goes in the URL"},
    414: {"model": Problem, "description": f"the URL is longer than {MAX_URL_BYTES} bytes"},
    431: {"model": Problem, "description": f"the headers are longer than {MAX_HEADER_BYTES} bytes"},
}
# Documented in the OpenAPI spec (so clients and fuzzers know the shape); checked by
# validate_stockcode, whose message says what a stockcode looks like.
STOCKCODE_SCHEMA = {"pattern": STOCKCODE_KEY.pattern, "maxLength": 32, "examples": ["85123A"]}


def _error(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


def _digits(value: Any) -> Any:
    """A whole number in the URL is written in digits: what pydantic's lax parsing would also take
    (``+0.0``, ``1_000``, `` 7``) is a 422, as the published schema (an integer) says."""
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{1,10}", value):
        raise ValueError("must be a whole number written in digits")
    return value


# Where a route keeps its accepted query parameters, worked out on its first request (its dependency tree never
# changes), so a request pays for an attribute lookup, not a walk of the tree.
_ACCEPTED_QUERY = "_pricing_accepted_query"


def accepted_query(route: APIRoute) -> list[str]:
    """The query parameters ``route`` takes: its own and its dependencies' (by the name the URL uses)."""
    known: list[str] | None = getattr(route, _ACCEPTED_QUERY, None)
    if known is not None:
        return known
    names: set[str] = set()
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        names.update(field.alias for field in dependant.query_params)
        pending.extend(dependant.dependencies)
    accepted = sorted(names)
    setattr(route, _ACCEPTED_QUERY, accepted)
    return accepted


async def once_each(request: Request) -> None:
    """Each query parameter at most once, and only those the route takes: otherwise the last of a repeated
    one would silently win, and a misspelt one (``guardrial=0.1``) would silently give the default answer.
    Both are a 422 that names them."""
    names = [name for name, _ in request.query_params.multi_items()]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise _error(422, f"query parameter(s) {repeated} given more than once")
    route = request.scope["route"]
    accepted = accepted_query(route)
    unknown = sorted(set(names) - set(accepted))
    if unknown:
        takes = f"takes only {', '.join(accepted)}" if accepted else "takes no query parameters"
        raise _error(422, f"unknown query parameter(s) {unknown}: {route.path} {takes}; check the spelling")


def recommendation_for(
    code: str,
    inputs: Any,
    stored: dict[str, Any] | None,
    objective: Objective | None,
    guardrail: float | None,
    unit_cost: float | None,
    gain_confidence: float | None = None,
) -> tuple[dict[str, Any] | None, bool]:
    """The recommendation to answer with, and whether it was made for this request.

    The promoted one unless the request names an objective, guardrail, unit cost or gain confidence; then
    the same ``recommend`` on the inputs the bundle keeps (so the promoted settings give the promoted answer)."""
    if objective is None and guardrail is None and unit_cost is None and gain_confidence is None:
        return stored, False
    answer = inputs.recommend(objective.value if objective else None, guardrail, unit_cost, gain_confidence)
    return {"stock_code": code, **served_part(answer)}, True


def no_curve(bundle: Any, code: str, source: CurveSource) -> str | None:
    """Why ``bundle`` has no curve of ``source`` (a bundle promoted before the weekly demand models), or None."""
    stored = bundle.manifest.get("recommendation")
    if bundle.recommendation_inputs is None:
        if stored is None:
            why = "was promoted before list-price recommendations existed"
        elif stored.get("current_list_price") is None:
            why = f"has no price response to recommend from ({stored.get('hold_reason')})"
        else:
            why = "was promoted before recommendations kept the inputs to make them again"
        return (
            f"the bundle {bundle.version} of {code} {why}, so it has no list-price curve: run the lineage for "
            f"{code} again (its promoted recommendation is in /v1/lineage/{code})"
        )
    if source is CurveSource.demand_model and not bundle.weekly:
        return (
            f"the bundle {bundle.version} of {code} was promoted before the weekly demand models: it has no week "
            "to forecast, so no demand_model curve (leave curve_source out for the list-price response)"
        )
    return None


def recommendation_cells(inputs: Any, guardrail: float | None) -> int:
    """Elasticity draws x whole pence in the band a recommendation for ``guardrail`` prices."""
    share = guardrail if guardrail is not None else inputs.config.guardrail
    pence = 200 * (share if share is not None else 1.4) * inputs.mix.current_list_price + 1
    return int(pence * inputs.config.draws)


def response_range(current: float, guardrail: float | None) -> tuple[float, float]:
    """The default list-price range of a response curve: ``current`` +/- DEFAULT_RANGE_GUARDRAILS x the guardrail
    share (up to 3x when there is none), in whole pence outward, never below DEFAULT_RANGE_FLOOR x ``current``.

    It always contains the guardrail band, so the recommended price is on the curve."""
    width = DEFAULT_RANGE_GUARDRAILS * (guardrail if guardrail is not None else 1.0)
    low = math.floor(100 * current * max(DEFAULT_RANGE_FLOOR, 1 - width) + 1e-6) / 100
    high = math.ceil(100 * current * (1 + width) - 1e-6) / 100
    return max(MIN_PRICE, low), max(high, max(MIN_PRICE, low) + 0.01)


def _encode(
    code: str,
    bundle: Any,
    source: CurveSource,
    objective: Objective,
    unit_cost: float | None,
    frame: Any,
    model: tuple[str | None, bool, list[dict[str, str]]],
    recommendation: tuple[dict[str, Any] | None, bool] | None,
) -> str:
    """A PriceAnswer as JSON without its closing ``"cached"`` field, so a hit and a miss share one encoding.

    Built from the curve's arrays and encoded once (no per-point validation, no second encoding): the
    shape is PriceAnswer's, which the OpenAPI spec publishes and the schemathesis test checks."""
    prices = frame["unit_price"].to_numpy()
    values = frame["margin" if objective is Objective.margin else "sales"].to_numpy()
    best = int(np.argmax(values))
    lists = [frame[name].to_numpy(dtype=float).tolist() for name in CURVE_FIELDS]
    if recommendation is None:  # the promoted one (recommendation_for without parameters)
        recommendation = (bundle.manifest.get("recommendation"), False)
    body = {
        "stockcode": code,
        "curve_source": source.value,
        "objective": objective.value,
        "unit_cost": unit_cost,
        "curve": [dict(zip(CURVE_FIELDS, row, strict=True)) for row in zip(*lists, strict=True)],
        "optimal_price": float(prices[best]),
        "optimal_value": float(values[best]),
        "optimum_on_edge": best in (0, len(prices) - 1),
        "model": model[0],
        "fallback_used": model[1],
        "skipped_models": model[2],
        "model_version": bundle.version,
        "lineage_id": bundle.manifest["lineage_id"],
        "recommendation": recommendation[0],
        "recommendation_recomputed": recommendation[1],
    }
    return json.dumps(body)[:-1]


def encode_model_answer(
    code: str,
    bundle: Any,
    answer: Any,
    objective: Objective,
    unit_cost: float,
    recommendation: tuple[dict[str, Any] | None, bool] | None = None,
) -> str:
    """The answer of a demand-model curve (``ServedBundle.predict``: a model's forecast moved along the response)."""
    model = (answer.model, answer.fallback_used, answer.skipped)
    return _encode(
        code, bundle, CurveSource.demand_model, objective, unit_cost, answer.curve.curve, model, recommendation
    )


def encode_response_answer(
    code: str,
    bundle: Any,
    prices: np.ndarray,
    objective: Objective,
    unit_cost: float,
    recommendation: tuple[dict[str, Any] | None, bool] | None = None,
) -> str:
    """The answer of a list-price response curve, from the inputs the bundle keeps (no demand model runs)."""
    frame = pricing.list_price_curve(bundle.recommendation_inputs, prices, unit_cost)
    no_model: tuple[str | None, bool, list[dict[str, str]]] = (None, False, [])
    return _encode(code, bundle, CurveSource.list_price_response, objective, unit_cost, frame, no_model, recommendation)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    # A forecast is two rows: one torch thread per request is faster (a 2.8 ms against a 44 ms p90 on two
    # threads for the larger per-line grids, BENCHMARKS.md profiles), and the server's own threads already
    # run requests side by side.
    torch.set_num_threads(1)
    registry = BundleRegistry(open_serving_store(settings), settings.reload_seconds, settings.serving_bundle_bytes)
    cache = ResponseCache(settings.redis_url, settings.cache_ttl_seconds)
    app = FastAPI(
        title="pricing lineage",
        version="1",
        description=(
            "Next week's expected units, revenue and margin over a range of wholesale list prices, the best list "
            "price on it and the list-price recommendation, from promoted bundles only."
        ),
        responses=REQUEST_LIMITS,
    )
    app.state.registry, app.state.cache, app.state.settings = registry, cache, settings
    compute_budget = ComputeBudget(COMPUTE_BUDGET_CELLS)
    if settings.cors_allow_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_list,
            allow_methods=["GET"],
            allow_headers=["Authorization"],
        )
    app.add_middleware(RequestLimits)  # added last, so it runs first

    # The two dependencies are trivial: async, so they run on the event loop instead of costing a
    # thread-pool hop each.
    async def authorised(request: Request) -> None:
        if not settings.api_token:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.encode(), settings.api_token.encode()):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    async def stockcode_of(stockcode: Annotated[str, PathParam(json_schema_extra=STOCKCODE_SCHEMA)]) -> str:
        try:
            return validate_stockcode(stockcode)
        except InvalidStockcodeError as exc:
            raise _error(422, str(exc)) from exc

    def served(code: str):
        try:
            return registry.get(code)
        except NotPromotedError as exc:
            raise _error(404, str(exc)) from exc
        except Exception as exc:  # noqa: BLE001 - store unreachable or bundle refused, and nothing loaded
            raise _error(503, str(exc)) from exc

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "the store is unreachable and nothing is loaded"}},
    )
    def readyz() -> JSONResponse:
        codes = registry.stockcodes()
        body = {
            "store": "unreachable" if registry.last_store_error else "ok",
            "store_error": registry.last_store_error,
            "refused": registry.refused,
            "promoted": len(codes),
            "loaded": registry.loaded_versions,
            "loaded_bytes": registry.loaded_bytes,
            "loaded_bytes_limit": settings.serving_bundle_bytes,
            "evicted": registry.evicted,
            "cache": cache.backend,
            "redis": cache.ping(),
        }
        ready = registry.last_store_error is None or bool(registry.loaded_versions)
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get(
        "/v1/stockcodes",
        response_model=StockcodeList,
        dependencies=[Depends(authorised), Depends(once_each)],
        tags=["pricing"],
        responses={401: ERRORS[401], 422: ERRORS[422]},
    )
    def stockcodes(
        prefix: Annotated[
            str | None,
            Query(
                max_length=32,
                pattern=r"^[A-Za-z0-9]*$",
                description="only the stockcodes that start with this (letters and digits, any case)",
            ),
        ] = None,
        offset: Annotated[
            int, Query(ge=0, le=10_000_000, description="skip this many of those that match"), BeforeValidator(_digits)
        ] = 0,
        limit: Annotated[
            int, Query(ge=1, le=MAX_PAGE, description="the most stockcodes to return"), BeforeValidator(_digits)
        ] = MAX_PAGE,
    ) -> StockcodeList:
        """Promoted stockcodes, a page at a time: a catalogue has hundreds. Listing loads no bundle."""
        codes = registry.stockcodes()
        if prefix:
            codes = [code for code in codes if code.upper().startswith(prefix.upper())]
        page = codes[offset : offset + limit]
        loaded = registry.loaded_versions
        return StockcodeList(
            stockcodes=page,
            total=len(codes),
            offset=offset,
            limit=limit,
            next_offset=offset + limit if offset + limit < len(codes) else None,
            loaded={code: loaded[code] for code in page if code in loaded},
        )

    @app.get(
        "/v1/lineage/{stockcode}",
        dependencies=[Depends(authorised), Depends(once_each)],
        tags=["pricing"],
        responses=ERRORS,
    )
    def lineage(code: Annotated[str, Depends(stockcode_of)]) -> dict[str, Any]:
        return served(code).manifest

    @app.get(
        "/v1/predict-price/{stockcode}",
        response_model=PriceAnswer,
        dependencies=[Depends(authorised), Depends(once_each)],
        tags=["pricing"],
        responses=ERRORS,
    )
    def predict_price(
        code: Annotated[str, Depends(stockcode_of)],
        unitprice_min: Annotated[
            float | None,
            Query(
                ge=MIN_PRICE,
                le=MAX_PRICE,
                description=(
                    "lowest wholesale list price of the curve (default: the current list less twice the guardrail "
                    "share, at least half the list, in whole pence)"
                ),
            ),
        ] = None,
        unitprice_max: Annotated[
            float | None,
            Query(
                ge=MIN_PRICE,
                le=MAX_PRICE,
                description=(
                    "highest wholesale list price of the curve (default: the current list plus twice the guardrail "
                    "share, in whole pence)"
                ),
            ),
        ] = None,
        num_price_bins: Annotated[
            int,
            Query(ge=2, le=1000, description="list prices in the curve, evenly spaced from min to max"),
            BeforeValidator(_digits),
        ] = 100,
        objective: Annotated[
            Objective | None,
            Query(
                description=(
                    "what the answer maximises: the curve's optimal price and the list-price recommendation (as "
                    "promoted when not given, PRICING_OBJECTIVE). margin takes unit_cost, else the unit cost the "
                    "bundle's recommendation used"
                )
            ),
        ] = None,
        unit_cost: Annotated[
            float | None,
            # Above 0, as the costs file's: at 0 the margin would be the revenue under another name.
            Query(gt=0, le=MAX_PRICE, description="the unit cost for margin, in the curve and the recommendation"),
        ] = None,
        guardrail: Annotated[
            float | None,
            Query(
                gt=0,
                le=MAX_GUARDRAIL,
                description=(
                    "the largest share the recommended list price may move either way from the current one "
                    "(as promoted when not given, PRICING_GUARDRAIL)"
                ),
            ),
        ] = None,
        gain_confidence: Annotated[
            float | None,
            Query(
                ge=MIN_GAIN_CONFIDENCE,
                le=MAX_GAIN_CONFIDENCE,
                description=(
                    "the share of the elasticity's draws on which a move must gain, else hold (as promoted when "
                    "not given, PRICING_GAIN_CONFIDENCE, 0.975: the gain's 95 % interval above zero); lower moves "
                    "more often and loses more often"
                ),
            ),
        ] = None,
        curve_source: Annotated[
            CurveSource | None,
            Query(
                description=(
                    "whose forecast of next week the curve moves along the price response: list_price_response "
                    "(default) the one promoted with the recommendation; demand_model the champion demand model's "
                    "forecast made again from the bundled week (a fallback model's when the champion cannot)"
                )
            ),
        ] = None,
    ) -> Response:
        if num_price_bins > settings.max_price_bins:
            raise _error(422, f"num_price_bins {num_price_bins} is above the limit of {settings.max_price_bins}")
        bundle = served(code)
        source = curve_source or CurveSource.list_price_response
        why = no_curve(bundle, code, source)
        if why is not None:
            raise _error(422, why)
        inputs = bundle.recommendation_inputs
        curve_objective = objective or Objective(inputs.config.objective)
        cost = unit_cost if unit_cost is not None else inputs.unit_cost
        share = guardrail if guardrail is not None else inputs.config.guardrail
        default_low, default_high = response_range(inputs.mix.current_list_price, share)
        low = unitprice_min if unitprice_min is not None else default_low
        high = unitprice_max if unitprice_max is not None else default_high
        if not low < high:
            raise _error(422, f"unitprice_min ({low}) must be below unitprice_max ({high})")
        prices = np.linspace(low, high, num_price_bins)
        if not np.all(np.diff(prices) > 0):  # a range narrower than float resolution allows for that many bins
            raise _error(422, f"unitprice_min and unitprice_max are too close for {num_price_bins} distinct prices")
        asked = objective is not None or guardrail is not None or unit_cost is not None or gain_confidence is not None
        cells = recommendation_cells(inputs, guardrail) if asked else 0
        if cells > MAX_RECOMMENDATION_CELLS:
            raise _error(
                422,
                f"the guardrail asked prices {cells // inputs.config.draws} whole pence around "
                f"the list price of {code}, more than one request may: ask a narrower guardrail",
            )
        # A curve is elasticity draws x list prices whichever forecast it moves (a model's forecast is two rows).
        curve_cells = num_price_bins * inputs.config.draws
        params = {
            "min": low,
            "max": high,
            "bins": num_price_bins,
            "objective": objective.value if objective else None,
            "cost": unit_cost,
            "guardrail": guardrail,
            "gain_confidence": gain_confidence,
            "curve": source.value,
        }
        key = cache_key(code, bundle.version, params)
        hit = cache.get(key)
        if hit is not None:  # stored already marked cached: served as bytes, no decoding
            return Response(hit, media_type="application/json", headers={"X-Cache": "hit"})
        started = time.perf_counter()
        try:
            with compute_budget.reserve(curve_cells + cells):
                stored = bundle.manifest.get("recommendation")
                recommendation = recommendation_for(
                    code, inputs, stored, objective, guardrail, unit_cost, gain_confidence
                )
                if source is CurveSource.list_price_response:
                    encoded = encode_response_answer(code, bundle, prices, curve_objective, cost, recommendation)
                    by = "the list-price response"
                else:
                    answer = bundle.predict(prices, cost)
                    encoded = encode_model_answer(code, bundle, answer, curve_objective, cost, recommendation)
                    by = f"{answer.model}'s forecast"
        except NoModelAnsweredError as exc:
            raise _error(503, str(exc)) from exc
        cache.set(key, f'{encoded}, "cached": true}}'.encode())
        log.info("%s priced by %s in %.1f ms", code, by, 1000 * (time.perf_counter() - started))
        return Response(
            f'{encoded}, "cached": false}}'.encode(), media_type="application/json", headers={"X-Cache": "miss"}
        )

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    return app
