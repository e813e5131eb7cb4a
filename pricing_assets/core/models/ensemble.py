"""The champion: the equal-weight mean, in log1p units, of its members that forecast finite values: every tuned
model and the catalogue-level forecast.

Why: each tuned model (the network, LightGBM, ElasticNet, SVR; each already averaged with the
four-week mean, ``combination.py``) is tuned and early-stopped on the validation weeks, so its
validation score is flattered by its own search, and choosing the lowest of four such scores mostly
picks whichever fit those few weeks best. On the dev file's 100 most active codes the single model
chosen that way beat both baselines over a rolling origin (about 21 test weeks a code) on 56 codes;
the mean of the four, which no search has seen, on 72 (the store: 45 and 55), and offered as a fifth
candidate on validation it was chosen 4 times in 396 (BENCHMARKS.md, "Weekly forecast accuracy").
So the mean is the champion whenever two or more members forecast the validation weeks with finite
values; the single models stay, ranked on validation, as the fallbacks serving tries next.

The fifth member, the catalogue-level forecast (``linear.train_catalogue_level``), is fit to nothing:
the product's level with the catalogue's weekly movement taken out, averaged over 26 weeks. With it
the mean beat both baselines on the store on 50 of 100 products (27 without it; 65 and 55 on a rolling
origin), where the season moves every product together; on the dev file, whose test weeks are quiet
summer ones, on a few fewer codes (62 against 66; 73 against 72 on the rolling origin), with about the
same pooled WAPE (BENCHMARKS.md, "Weekly forecast accuracy").

- **In log1p units**, like the average with the four-week mean: linear in its members, so SHAP
  explains each member with its own explainer and averages the values (``core/explain.py``), and
  the price still enters only through the price response, so demand stays non-increasing in the
  own list price.
- **Equal weights, fixed**: nothing is tuned on the figures that judge it.
- **Files**: ``ensemble.json`` names the members and their weights; each member's own files are
  named ``<member kind>/<file>``. They are the members' own files, stored once: the model card
  points at the member cards' keys, and a bundle at the fallbacks' paths (``core/bundle.py``), so a
  member's file that fails verification refuses the mean and that fallback, and the next single
  model answers. Code that does not know this kind refuses it by name and serves the next model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..splits import DesignMatrices
from .base import DemandModel

ENSEMBLE_KIND = "ensemble"
ENSEMBLE_FILE = "ensemble.json"
MIN_MEMBERS = 2


@dataclass
class EnsembleModel:
    """``sum(weight * member)`` over the members, in log1p of a price list's weekly units."""

    members: dict[str, DemandModel]
    weights: dict[str, float]
    kind: str = ENSEMBLE_KIND
    explainer: str = ENSEMBLE_KIND

    def parts(self) -> list[tuple[float, DemandModel]]:
        """The weighted models this forecast is the sum of (SHAP explains each, ``core/explain.py``)."""
        return [(self.weights[kind], member) for kind, member in self.members.items()]

    def predict_log(self, x: np.ndarray) -> np.ndarray:
        return sum(
            (self.weights[k] * np.asarray(m.predict_log(x), dtype=float) for k, m in self.members.items()),
            start=np.zeros(len(x), dtype=float),
        )

    def composition(self) -> bytes:
        """``ensemble.json``: the members, in order, and their weights."""
        return json.dumps({"members": list(self.members), "weights": self.weights}).encode()

    def files(self) -> dict[str, bytes]:
        files = {ENSEMBLE_FILE: self.composition()}
        for kind, member in self.members.items():
            files.update({f"{kind}/{name}": blob for name, blob in member.files().items()})
        return files


def ensemble_of(
    models: Mapping[str, DemandModel], member_kinds: list[str], data: DesignMatrices
) -> EnsembleModel | None:
    """The equal mean of the ``member_kinds`` in ``models`` whose validation forecasts are all finite.

    ``None`` when fewer than two qualify: a mean of one model is that model, already a candidate."""
    members = {
        kind: models[kind]
        for kind in member_kinds
        if kind in models and np.isfinite(np.asarray(models[kind].predict_log(data.x["validation"]), float)).all()
    }
    if len(members) < MIN_MEMBERS:
        return None
    return EnsembleModel(members, {kind: 1.0 / len(members) for kind in members})


MemberLoader = Callable[[str, dict[str, bytes]], DemandModel]


def load_ensemble(files: dict[str, bytes], load_member: MemberLoader) -> EnsembleModel:
    """The ensemble stored as ``files`` (see :meth:`EnsembleModel.files`), each member loaded by ``load_member``."""
    if ENSEMBLE_FILE not in files:
        raise ValueError(f"an ensemble needs {ENSEMBLE_FILE}; found {sorted(files)}")
    try:
        stored = json.loads(files[ENSEMBLE_FILE])
        members, weights = [str(k) for k in stored["members"]], {str(k): float(w) for k, w in stored["weights"].items()}
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"{ENSEMBLE_FILE} must hold a list of members and a weight per member: {exc}") from exc
    distinct = len(set(members)) == len(members)
    if len(members) < MIN_MEMBERS or not distinct or set(members) != set(weights) or ENSEMBLE_KIND in members:
        raise ValueError(
            f"{ENSEMBLE_FILE} must name two or more distinct member kinds, each with a weight; found {stored}"
        )
    if not all(w >= 0.0 for w in weights.values()) or abs(sum(weights.values()) - 1.0) > 1e-9:
        raise ValueError(f"{ENSEMBLE_FILE} weights must be non-negative and sum to 1; found {weights}")
    loaded = {}
    for kind in members:
        prefix = f"{kind}/"
        own = {name[len(prefix) :]: blob for name, blob in files.items() if name.startswith(prefix)}
        if not own:
            raise ValueError(f"the ensemble's member {kind} has no files")
        loaded[kind] = load_member(kind, own)
    return EnsembleModel(loaded, weights)
