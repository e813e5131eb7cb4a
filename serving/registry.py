"""Promoted bundles in memory: verified on load, refreshed when a newer promotion appears.

A stockcode's pointer (a small JSON) is re-read at most every ``reload_seconds``; when its
version changed, the new bundle is read and verified before it replaces the old one, so a
failed or tampered promotion keeps the previous bundle serving; so does a pointer that cannot be
read, and a promotion none of whose models has all its files intact. Such a refusal is that
stockcode's alone: only the store failing backs off every stockcode. Models are loaded lazily in
fallback order: when one fails to load or forecasts non-finite or implausible values (core/forecast.py),
the next one answers.

At catalogue size (hundreds of stockcodes) nothing is loaded before it is asked for, a request
loads its own bundle only, and what is loaded is bounded in bytes: the least recently used bundles
are dropped (and read and verified again when next asked for) once the loaded ones hold more than
``max_bytes`` (a bundle's files, its parsed scenario and the models it has loaded).

A bundle's scenario is the week after its data (one row per price list, ``weekly_features.next_week_rows``);
a demand-model curve is a model's forecast of that week moved along the list-price response
(``pricing.predict_curve``), so it needs the recommendation's inputs as the list-price response does.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pricing_assets.core import bundle as bundles
from pricing_assets.core.forecast import first_answer, model_chain
from pricing_assets.core.models import DemandModel, load_model
from pricing_assets.core.pricing import PriceCurve, predict_curve
from pricing_assets.core.recommendation_inputs import RecommendationInputs
from pricing_assets.core.splits import Preprocessor
from pricing_assets.core.stockcodes import validate_stockcode
from pricing_assets.core.store import ArtifactNotFoundError, ArtifactStore, S3ArtifactStore, open_store, s3_client
from pricing_assets.core.weekly_features import GROUP_COLUMN, PRICE_LISTS
from pricing_assets.settings import Settings

log = logging.getLogger(__name__)


class NotPromotedError(LookupError):
    """The stockcode has no promoted bundle."""


class StoreUnavailableError(RuntimeError):
    """The store cannot be read and nothing of this stockcode is loaded."""


class BundleRefusedError(RuntimeError):
    """The current promotion failed verification and nothing older of this stockcode is loaded."""


# What a bundle that fails verification or cannot be parsed raises (JSON and Arrow errors are
# ValueErrors, a missing file a KeyError); anything else is the store failing.
REFUSALS = (bundles.BundleIntegrityError, ValueError, KeyError)
# What ``refused`` names as the version when the pointer itself cannot be read.
UNREADABLE_POINTER = "unknown"
STORE_RETRY_SECONDS = 5.0
REFUSED_RETRY_SECONDS = 60.0


@dataclass
class Answer:
    curve: PriceCurve
    model: str
    fallback_used: bool
    skipped: list[dict[str, str]]


@dataclass
class ServedBundle:
    """One verified promoted bundle with its models loaded on first use."""

    loaded: bundles.LoadedBundle
    preprocessor: Preprocessor
    scenario: pd.DataFrame  # the week to forecast, one row per price list (older bundles: their per-line scenario)
    # What the list-price recommendation was made from; None for bundles promoted before it was kept.
    recommendation_inputs: RecommendationInputs | None = None
    models: dict[str, DemandModel | Exception] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    model_bytes: int = 0  # the file bytes of the models loaded so far, counted again once parsed
    static_bytes: int = 0  # its files as read and the scenario frame (set once, at load)

    def __post_init__(self) -> None:
        files = sum(len(data) for data in self.loaded.files.values())
        self.static_bytes = files + int(self.scenario.memory_usage(deep=True).sum())

    @property
    def size_bytes(self) -> int:
        """What this bundle holds in memory, roughly: its files, its scenario, each loaded model's file again."""
        return self.static_bytes + self.model_bytes

    @property
    def version(self) -> str:
        return self.loaded.manifest["version"]

    @property
    def manifest(self) -> dict[str, Any]:
        return self.loaded.manifest

    @property
    def chain(self) -> list[str]:
        return model_chain(self.manifest["champion"], self.manifest["fallback_chain"])

    def _model(self, kind: str) -> DemandModel:
        with self.lock:
            if kind not in self.models:
                try:
                    files = self.loaded.model_files(kind)  # refuses a model with a file that failed verification
                    self.models[kind] = load_model(kind, files)
                    self.model_bytes += sum(len(data) for data in files.values())
                except Exception as exc:  # noqa: BLE001 - any load failure moves on to the next model
                    log.error(
                        "model %s of %s %s failed to load: %s", kind, self.manifest["stock_code"], self.version, exc
                    )
                    self.models[kind] = exc
            found = self.models[kind]
        if isinstance(found, Exception):
            raise found
        return found

    @property
    def weekly(self) -> bool:
        """Whether the scenario is a week to forecast per price list (bundles of the weekly demand models)."""
        return GROUP_COLUMN in self.scenario.columns and sorted(self.scenario[GROUP_COLUMN]) == sorted(PRICE_LISTS)

    def residuals(self, kind: str) -> list[float]:
        """The validation residuals of ``kind`` (log units): its forecast's smearing and level draws."""
        return next(m.get("validation_residuals") or [] for m in self.manifest["models"] if m["kind"] == kind)

    def predict(self, prices: np.ndarray, unit_cost: float | None = None) -> Answer:
        """The list-price curve over ``prices`` with the first model of the chain that forecasts the bundled
        week: the champion, else the fallbacks in order (a model that fails to load or forecasts non-finite or
        implausible units is skipped, and so is one whose curve overflows)."""
        inputs = self.recommendation_inputs
        if inputs is None:
            raise ValueError(f"the bundle {self.version} keeps no recommendation inputs to move a forecast along")

        def attempt(kind: str) -> PriceCurve:
            model = self._model(kind)
            with np.errstate(over="ignore", invalid="ignore"):  # an overflow is caught below, as a refusal
                curve = predict_curve(
                    model, self.preprocessor, self.scenario, inputs, self.residuals(kind), prices, unit_cost
                )
            _require_finite(curve, kind)
            return curve

        # Any error skips a model here (load errors, non-finite or implausible forecasts): serving answers with
        # the next one whatever broke the first.
        what = f"{self.manifest['stock_code']} {self.version}"
        curve, kind, skipped = first_answer(self.chain, attempt, skip=(Exception,), what=what)
        reasons = [{"model": k, "reason": why[:300]} for k, why in skipped.items()]
        return Answer(curve, kind, kind != self.manifest["champion"], reasons)


def _require_finite(curve: PriceCurve, kind: str) -> None:
    """A finite forecast can still overflow once moved along the response and turned into sales (a model
    far outside the weeks it was trained on): such a curve is not an answer, the next model gives one."""
    values = curve.curve.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise FloatingPointError(f"{kind} gave a price curve with non-finite quantities or sales")


def _require_a_verified_model(loaded: bundles.LoadedBundle) -> None:
    """Refuse a bundle none of whose models ([champion, *fallback_chain]) has every file verified.

    A lenient read sets a damaged model file aside so the next model can answer; when every model is
    damaged, nothing could, and taking the bundle would replace a sound one that is serving."""
    manifest = loaded.manifest
    chain = model_chain(manifest["champion"], manifest["fallback_chain"])
    reasons = []
    for kind in chain:
        try:
            loaded.model_files(kind)
            return
        except bundles.BundleIntegrityError as exc:
            reasons.append(str(exc))
    code = manifest["stock_code"]
    raise bundles.BundleIntegrityError(
        f"no model of {code} {manifest['version']} has all its files intact: each of {', '.join(chain)} has a "
        f"damaged or missing file (the first: {reasons[0] if reasons else 'the chain is empty'}); "
        f"promote {code} again (pricing run --stockcodes {code})"
    )


def _recommendation_inputs(data: bytes | None) -> RecommendationInputs | None:
    """The recommendation's inputs from recommendation.json; None when the bundle predates them (or the
    price response was not identified, so there was nothing to recommend from)."""
    if data is None:
        return None
    stored = json.loads(data).get("inputs")
    if stored is None:
        return None
    try:
        return RecommendationInputs.from_dict(stored)
    except (KeyError, TypeError) as exc:  # written by another version: the stored answer still serves
        log.error("the recommendation inputs of this bundle cannot be read (%s); serving the stored answer", exc)
        return None


class BundleRegistry:
    """Stockcode -> the verified bundle being served, refreshed from the store's promotion pointers.

    What is loaded keeps answering whatever the store does: when the store cannot be read, a
    loaded stockcode is served from memory and the store is tried again after a back-off; a new
    promotion that fails verification is refused (and remembered, so it is not re-read on every
    request) while the previous bundle keeps serving. A loaded stockcode never waits for another
    request's store round trip.
    """

    def __init__(self, store: ArtifactStore, reload_seconds: float = 5.0, max_bytes: int | None = None) -> None:
        self.store = store
        self.reload_seconds = reload_seconds
        self.max_bytes = max_bytes  # None: no bound (a handful of stockcodes)
        # Least recently used first; every access and change under _lru_lock (requests run on many threads).
        self._bundles: OrderedDict[str, ServedBundle] = OrderedDict()
        self._lru_lock = threading.Lock()
        self.evicted = 0  # bundles dropped to stay within max_bytes, since start
        # The store's list of promoted stockcodes, kept reload_seconds: listing walks every file of every
        # promotion (thousands of keys at catalogue size), pointers are re-read no more often either.
        self._listing: tuple[float, list[str]] | None = None
        self._next_check: dict[str, float] = {}
        self._lock = threading.Lock()
        self._store_retry_at = 0.0
        self.last_store_error: str | None = None
        self.refused: dict[str, dict[str, str]] = {}  # stockcode -> version and reason of a refused promotion
        self._refused_at: dict[str, float] = {}

    def _load(self, stock_code: str) -> ServedBundle:
        loaded = bundles.read_bundle(self.store, stock_code, strict=False)
        _require_a_verified_model(loaded)
        preprocessor = Preprocessor.from_json(loaded.files["preprocessor.json"])
        scenario = pd.read_parquet(io.BytesIO(loaded.files["scenario.parquet"]))
        if loaded.refused:
            log.error("%s %s: refused %s", stock_code, loaded.manifest["version"], loaded.refused)
        inputs = _recommendation_inputs(loaded.files.get("recommendation.json"))
        return ServedBundle(loaded, preprocessor, scenario, inputs)

    def _loaded(self, stock_code: str) -> ServedBundle | None:
        """The bundle in memory (now the most recently used), or None."""
        with self._lru_lock:
            current = self._bundles.get(stock_code)
            if current is not None:
                self._bundles.move_to_end(stock_code)
            return current

    def _keep_loaded(self, stock_code: str, bundle: ServedBundle) -> None:
        """``bundle`` serves ``stock_code`` now; the least recently used others go while over ``max_bytes``."""
        with self._lru_lock:
            self._bundles[stock_code] = bundle
            self._bundles.move_to_end(stock_code)
            if self.max_bytes is None:
                return
            held = sum(b.size_bytes for b in self._bundles.values())
            while held > self.max_bytes and len(self._bundles) > 1:
                code, dropped = self._bundles.popitem(last=False)
                self._next_check.pop(code, None)  # read and verified again when next asked for
                held -= dropped.size_bytes
                self.evicted += 1
                log.info(
                    "dropped %s %s from memory (%d bundles held %d bytes)",
                    code,
                    dropped.version,
                    len(self._bundles),
                    held,
                )

    @property
    def loaded_bytes(self) -> int:
        with self._lru_lock:
            return sum(b.size_bytes for b in self._bundles.values())

    def get(self, stock_code: str) -> ServedBundle:
        """The current bundle; keeps serving the one in memory when the store cannot be read."""
        stock_code = validate_stockcode(stock_code)
        current = self._loaded(stock_code)
        now = time.monotonic()
        if current is not None and (now < self._next_check.get(stock_code, 0.0) or self._store_down(now)):
            return current
        if current is None and self._store_down(now):  # fail fast instead of waiting on a store known to be down
            raise StoreUnavailableError(
                f"the promoted bundle of {stock_code} cannot be read now: {self.last_store_error}"
            )
        if not self._lock.acquire(blocking=current is None):
            return current  # another request is talking to the store: answer with what is loaded
        try:
            return self._refresh(stock_code)
        finally:
            self._lock.release()

    def _refresh(self, stock_code: str) -> ServedBundle:
        current = self._loaded(stock_code)
        now = time.monotonic()
        try:
            pointer = bundles.read_pointer(self.store, stock_code)
        except ArtifactNotFoundError as exc:
            self._next_check[stock_code] = now + self.reload_seconds
            if current is None:
                raise NotPromotedError(f"stockcode {stock_code} has no promoted model; run the lineage for it") from exc
            return current
        except bundles.BundleIntegrityError as exc:  # the store answered with a bad pointer: this stockcode's refusal
            self._store_ok()
            self._next_check[stock_code] = now + self.reload_seconds
            return self._refuse(stock_code, current, UNREADABLE_POINTER, exc, now)
        except Exception as exc:  # noqa: BLE001 - store down: keep what we have, try again after a back-off
            return self._store_failed(stock_code, current, exc)
        self._store_ok()
        self._next_check[stock_code] = now + self.reload_seconds
        if current is not None and current.version == pointer["version"]:
            self.refused.pop(stock_code, None)  # a refusal of another version (or of a bad pointer) is over
            return current
        if self._still_refused(stock_code, pointer["version"], now):
            return self._keep(stock_code, current)
        try:
            fresh = self._load(stock_code)
        except REFUSALS as exc:
            return self._refuse(stock_code, current, pointer["version"], exc, now)
        except Exception as exc:  # noqa: BLE001 - the store failed mid-read
            return self._store_failed(stock_code, current, exc)
        self._keep_loaded(stock_code, fresh)
        self.refused.pop(stock_code, None)
        log.info("serving %s %s (champion %s)", stock_code, fresh.version, fresh.manifest["champion"])
        return fresh

    def _refuse(
        self, stock_code: str, current: ServedBundle | None, version: str, exc: Exception, now: float
    ) -> ServedBundle:
        """Remember that ``version`` of ``stock_code`` failed verification (it is not re-read on every request),
        and keep serving what is loaded of it: a bad bundle is that stockcode's problem, not a store outage."""
        reason = str(exc) if isinstance(exc, bundles.BundleIntegrityError) else f"{type(exc).__name__}: {exc}"
        self.refused[stock_code] = {"version": version, "reason": reason}
        self._refused_at[stock_code] = now
        log.error(
            "refused promotion %s of %s (%s); still serving %s",
            version,
            stock_code,
            reason,
            current.version if current else "nothing",
        )
        return self._keep(stock_code, current)

    def _still_refused(self, stock_code: str, version: str, now: float) -> bool:
        """A refused version is not re-read on every request, only after a while (a file may have been late)."""
        refused = self.refused.get(stock_code)
        return (
            refused is not None
            and refused["version"] == version
            and now - self._refused_at[stock_code] < REFUSED_RETRY_SECONDS
        )

    def _keep(self, stock_code: str, current: ServedBundle | None) -> ServedBundle:
        if current is None:
            refused = self.refused[stock_code]
            raise BundleRefusedError(
                f"the promoted bundle of {stock_code} ({refused['version']}) was refused: {refused['reason']}"
            )
        return current

    def _store_failed(self, stock_code: str, current: ServedBundle | None, exc: Exception) -> ServedBundle:
        now = time.monotonic()
        self.last_store_error = f"{type(exc).__name__}: {exc}"
        self._store_retry_at = now + STORE_RETRY_SECONDS
        self._next_check[stock_code] = now + max(self.reload_seconds, STORE_RETRY_SECONDS)
        log.error(
            "could not refresh %s from the store (%s); %s",
            stock_code,
            exc,
            f"still serving {current.version}" if current else "nothing loaded",
        )
        if current is None:
            raise StoreUnavailableError(f"the promoted bundle of {stock_code} cannot be read now: {exc}") from exc
        return current

    def _store_down(self, now: float) -> bool:
        """The store failed less than STORE_RETRY_SECONDS ago: one failure backs off every stockcode."""
        return self.last_store_error is not None and now < self._store_retry_at

    def _store_ok(self) -> None:
        self.last_store_error = None

    def stockcodes(self) -> list[str]:
        """Promoted stockcodes; the loaded ones while the store cannot be read (without waiting on it again)."""
        if self._store_down(time.monotonic()):
            return sorted(self.loaded_versions)
        now = time.monotonic()
        if self._listing is not None and now < self._listing[0]:
            return self._listing[1]
        try:
            codes = bundles.promoted_stockcodes(self.store)
        except Exception as exc:  # noqa: BLE001
            self.last_store_error = f"{type(exc).__name__}: {exc}"
            self._store_retry_at = time.monotonic() + STORE_RETRY_SECONDS
            return sorted(self.loaded_versions)
        self._store_ok()
        self._listing = (now + self.reload_seconds, codes)
        return codes

    @property
    def loaded_versions(self) -> dict[str, str]:
        with self._lru_lock:
            return {code: b.version for code, b in self._bundles.items()}


def open_serving_store(settings: Settings) -> ArtifactStore:
    """The store the settings name; for S3, a client with short timeouts and few retries.

    Requests wait on the store when they refresh a stockcode, so a store that hangs (a network
    partition drops packets instead of refusing connections) must cost seconds, not boto3's
    default of a minute per attempt.
    """
    if not settings.s3_bucket:
        return open_store(settings)
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 2, "mode": "standard"})
    return S3ArtifactStore(s3_client(settings.s3_endpoint_url, config), settings.s3_bucket, settings.s3_prefix)
