"""Promoted bundles in memory: verified on load, refreshed when a newer promotion appears.

A stockcode's pointer (a small JSON) is re-read at most every ``reload_seconds``; when its
version changed, the new bundle is read and verified before it replaces the old one, so a
failed or tampered promotion keeps the previous bundle serving. Models are loaded lazily in
fallback order: when one fails to load or predicts non-finite values, the next one answers.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pricing_assets.core import bundle as bundles
from pricing_assets.core.models import DemandModel, load_model
from pricing_assets.core.pricing import PriceCurve, predict_curve
from pricing_assets.core.splits import Preprocessor
from pricing_assets.core.stockcodes import validate_stockcode
from pricing_assets.core.store import ArtifactNotFoundError, ArtifactStore

log = logging.getLogger(__name__)


class NotPromotedError(LookupError):
    """The stockcode has no promoted bundle."""


class NoModelAnsweredError(RuntimeError):
    """Every model of the fallback chain failed."""


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
    scenario: pd.DataFrame
    base: np.ndarray  # the scenario through the preprocessor, computed once per bundle
    models: dict[str, DemandModel | Exception] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def version(self) -> str:
        return self.loaded.manifest["version"]

    @property
    def manifest(self) -> dict[str, Any]:
        return self.loaded.manifest

    @property
    def chain(self) -> list[str]:
        return [self.manifest["champion"], *self.manifest["fallback_chain"]]

    def _model(self, kind: str) -> DemandModel:
        with self.lock:
            if kind not in self.models:
                try:
                    refused = [n for n in self.loaded.refused if n.startswith(f"models/{kind}/")]
                    if refused:
                        raise bundles.BundleIntegrityError(f"{refused[0]} {self.loaded.refused[refused[0]]}")
                    self.models[kind] = load_model(kind, self.loaded.model_files(kind))
                except Exception as exc:  # noqa: BLE001 - any load failure moves on to the next model
                    log.error(
                        "model %s of %s %s failed to load: %s", kind, self.manifest["stock_code"], self.version, exc
                    )
                    self.models[kind] = exc
            found = self.models[kind]
        if isinstance(found, Exception):
            raise found
        return found

    def residual_quantiles(self, kind: str) -> list[float]:
        return next(m["residual_quantiles"] for m in self.manifest["models"] if m["kind"] == kind)

    def predict(self, prices: np.ndarray) -> Answer:
        skipped: list[dict[str, str]] = []
        for kind in self.chain:
            try:
                curve = predict_curve(
                    self._model(kind), self.preprocessor, self.scenario, prices, self.residual_quantiles(kind)
                )
            except Exception as exc:  # noqa: BLE001 - load errors, non-finite predictions
                skipped.append({"model": kind, "reason": f"{type(exc).__name__}: {exc}"[:300]})
                continue
            return Answer(curve, kind, kind != self.manifest["champion"], skipped)
        raise NoModelAnsweredError(f"no model of {self.manifest['stock_code']} {self.version} could answer: {skipped}")


class BundleRegistry:
    def __init__(self, store: ArtifactStore, reload_seconds: float = 5.0) -> None:
        self.store = store
        self.reload_seconds = reload_seconds
        self._bundles: dict[str, ServedBundle] = {}
        self._checked: dict[str, float] = {}
        self._lock = threading.Lock()
        self.last_store_error: str | None = None

    def _load(self, stock_code: str) -> ServedBundle:
        loaded = bundles.read_bundle(self.store, stock_code, strict=False)
        preprocessor = Preprocessor.from_json(loaded.files["preprocessor.json"])
        scenario = pd.read_parquet(io.BytesIO(loaded.files["scenario.parquet"]))
        if loaded.refused:
            log.error("%s %s: refused %s", stock_code, loaded.manifest["version"], loaded.refused)
        return ServedBundle(loaded, preprocessor, scenario, preprocessor.transform(scenario))

    def get(self, stock_code: str) -> ServedBundle:
        """The current bundle; keeps serving the one in memory when the store cannot be read."""
        stock_code = validate_stockcode(stock_code)
        now = time.monotonic()
        current = self._bundles.get(stock_code)
        if current is not None and now - self._checked.get(stock_code, 0.0) < self.reload_seconds:
            return current
        with self._lock:
            current = self._bundles.get(stock_code)
            try:
                pointer = bundles.read_pointer(self.store, stock_code)
                if current is None or current.version != pointer["version"]:
                    current = self._load(stock_code)
                    self._bundles[stock_code] = current
                    log.info("serving %s %s (champion %s)", stock_code, current.version, current.manifest["champion"])
                self.last_store_error = None
            except ArtifactNotFoundError as exc:
                if current is None:
                    raise NotPromotedError(
                        f"stockcode {stock_code} has no promoted model; run the lineage for it"
                    ) from exc
            except Exception as exc:  # noqa: BLE001 - store down or bundle refused: keep what we have
                self.last_store_error = f"{type(exc).__name__}: {exc}"
                log.error("could not refresh %s: %s", stock_code, exc)
                if current is None:
                    raise
            self._checked[stock_code] = now
            return current

    def stockcodes(self) -> list[str]:
        try:
            codes = bundles.promoted_stockcodes(self.store)
            self.last_store_error = None
            return codes
        except Exception as exc:  # noqa: BLE001
            self.last_store_error = f"{type(exc).__name__}: {exc}"
            return sorted(self._bundles)

    @property
    def loaded_versions(self) -> dict[str, str]:
        return {code: b.version for code, b in self._bundles.items()}
