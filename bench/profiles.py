"""Where the time goes: pyinstrument profiles of the slowest stage and of an uncached price request.

1. ``dfn_model``'s tuning with the product's default budget, on the stockcode pipeline_run.py
   measures (the most active of the default synthetic source): ``TRAINERS["dfn"]`` on the weekly
   design matrices the asset trains on (``core_calls.prepare_weekly``: the same core calls as the
   assets up to ``training_splits``).
2. An uncached ``GET /v1/predict-price/{stockcode}`` (100 bins): promoted bundles are built by the
   real job (``pricing run --top N`` in a fresh project folder, the budget serving_latency.py
   builds with, on its 4-product source), the app comes from ``serving.app.create_app``, and the
   route's handler is called in this thread with ``unitprice_min`` moved by 1e-6 each time, so
   every call is a cache miss. The HTTP layer (uvicorn, routing, about 1.6 ms:
   serving_latency.py's ``/healthz``) is not in this profile.

Each profile is saved as pyinstrument's text tree (``profile_*.txt`` beside the JSON) and
summarised in the JSON: seconds by library (self time of the Python frames, C calls counted in
the frame that made them) and the functions with the most self time.

    .venv/bin/python bench/profiles.py
    .venv/bin/python bench/profiles.py --quick     # tiny budget, one stockcode, few requests
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from benchlib import QUICK_BUDGET, RESULTS, begin, finish, log, stats, write_json
from report import render

SERVING_BUILD = {"PRICING_DFN_TRIALS": "3", "PRICING_BACKUP_TRIALS": "5"}  # serving_latency.py's BUILD_ENV
SERVING_PRODUCTS = 4
BINS = 100
LIBRARIES = (
    ("/torch/", "torch"),
    ("/optuna/", "optuna"),
    ("/numpy/", "numpy"),
    ("/pandas/", "pandas"),
    ("/pyarrow/", "pyarrow"),
    ("/sklearn/", "scikit-learn"),
    ("/lightgbm/", "lightgbm"),
    ("/shap/", "shap"),
    ("/pydantic", "pydantic"),
    ("/fastapi/", "fastapi"),
    ("/starlette/", "starlette"),
    ("/pricing_assets/", "pricing_assets (ours)"),
    ("/serving/", "serving (ours)"),
    ("/bench/", "benchmark harness"),
    ("/lib/python3", "python stdlib"),
)


def library_of(path: str | None, parent: str) -> str:
    if not path or path.startswith("<"):
        return parent  # built-ins and synthetic frames count for the code that called them
    for marker, name in LIBRARIES:
        if marker in path:
            return name
    return "other"


def summarise_session(session: Any, top: int = 12) -> dict[str, Any]:
    """Self time by library and the functions with the most self time."""
    by_library: dict[str, float] = defaultdict(float)
    by_function: dict[tuple[str, str], float] = defaultdict(float)

    def walk(frame: Any, parent_library: str) -> None:
        library = library_of(frame.file_path, parent_library)
        if frame.is_synthetic:  # "[self]": time spent in the parent frame itself
            by_library[parent_library] += frame.time
            return
        own = frame.time - sum(child.time for child in frame.children)
        if own > 0:
            by_library[library] += own
        self_time = own + sum(c.time for c in frame.children if c.is_synthetic)
        if self_time > 0:
            by_function[(frame.function, frame.file_path_short or "")] += self_time
        for child in frame.children:
            walk(child, library)

    root = session.root_frame()
    total = root.time if root else 0.0
    if root:
        walk(root, "other")
    ranked = sorted(by_function.items(), key=lambda kv: -kv[1])[:top]
    return {
        "profiled_seconds": round(total, 3),
        "by_library_seconds": {k: round(v, 3) for k, v in sorted(by_library.items(), key=lambda kv: -kv[1])},
        "top_self_time": [
            {"function": f, "file": path, "seconds": round(s, 3), "share": round(s / total, 3) if total else None}
            for (f, path), s in ranked
        ],
    }


def profiled(fn: Any, interval: float) -> tuple[Any, Any, Any]:
    from pyinstrument import Profiler

    profiler = Profiler(interval=interval)
    profiler.start()
    try:
        value = fn()
    finally:
        profiler.stop()
    return value, profiler.last_session, profiler


def save_text(profiler: Any, path: Path) -> str:
    path.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    return path.name


# --- 1. the network's tuning ----------------------------------------------------------------------


def profile_dfn_tuning(out_dir: Path, quick: bool) -> dict[str, Any]:
    from core_calls import catalogue_of, prepare_weekly, training_data

    from pricing_assets.core import tuning
    from pricing_assets.core.models import TRAINERS
    from pricing_assets.core.sources import load_source
    from pricing_assets.settings import Settings

    settings = Settings.from_env().with_(synthetic_products=24)
    transactions = load_source(settings.source, settings.data, settings.seed, settings.synthetic_products).transactions
    eligible, catalogue, demand_index = catalogue_of(transactions, settings)
    code = eligible[0]
    data = training_data(prepare_weekly(transactions, code, catalogue, demand_index, settings))
    budget = tuning.TuningBudget(settings.dfn_trials, settings.tuning_seconds)
    # One untimed trial first: torch and optuna finish importing and initialising on first use.
    TRAINERS["dfn"](data, tuning.TuningBudget(1, settings.tuning_seconds), settings.seed, None, max_epochs=1)
    log(f"profiles: dfn tuning of {code}, {settings.dfn_trials} trials, {settings.dfn_max_epochs} epochs")
    t0 = time.perf_counter()
    candidate, session, profiler = profiled(
        lambda: TRAINERS["dfn"](data, budget, settings.seed, None, max_epochs=settings.dfn_max_epochs), 0.001
    )
    seconds = time.perf_counter() - t0
    name = save_text(profiler, out_dir / ("profile_dfn_tuning" + (".quick" if quick else "") + ".txt"))
    summary = {k: candidate.tuning.get(k) for k in ("trials_run", "trials_pruned", "best_epoch", "stopped_by_time")}
    experiment = optimiser_experiment(data, budget, settings, 1 if quick else 2)
    return {
        "stock_code": code,
        "train_rows": int(len(data.y["train"])),
        "validation_rows": int(len(data.y["validation"])),
        "features": len(data.feature_names),
        "budget": f"{settings.dfn_trials} trials, {settings.dfn_max_epochs} max epochs, {settings.tuning_seconds:g} s",
        "wall_seconds_under_profiler": round(seconds, 2),
        "tuning": summary,
        "text": name,
        "optimiser_experiment": experiment,
        **summarise_session(session),
    }


def optimiser_experiment(data: Any, budget: Any, settings: Any, repeats: int) -> dict[str, Any]:
    """The profile's biggest block is the optimiser step: the same tuning with torch's ``foreach``
    optimisers (one batched update over all parameters instead of a loop over them), interleaved.

    An experiment in the benchmark only (it swaps ``dfn._optimiser`` for the call): the product
    code is unchanged. Same trials and seed; the best validation score shows whether it learns alike.
    """
    import torch

    from pricing_assets.core.models import TRAINERS
    from pricing_assets.core.models import dfn as dfn_module

    original = dfn_module._optimiser

    def foreach(name: str, parameters: Any, lr: float) -> torch.optim.Optimizer:
        if name == "adam":
            return torch.optim.Adam(parameters, lr=lr, foreach=True)
        if name == "adamw":
            return torch.optim.AdamW(parameters, lr=lr, weight_decay=1e-3, foreach=True)
        return torch.optim.SGD(parameters, lr=lr, momentum=0.9, nesterov=True, foreach=True)

    found: dict[str, dict[str, list[float]]] = {
        "as_is": {"seconds": [], "best": []},
        "foreach": {"seconds": [], "best": []},
    }
    for i in range(2 * repeats):
        name = ("as_is", "foreach", "foreach", "as_is")[i % 4]
        dfn_module._optimiser = foreach if name == "foreach" else original
        try:
            t0 = time.perf_counter()
            candidate = TRAINERS["dfn"](data, budget, settings.seed, None, max_epochs=settings.dfn_max_epochs)
            found[name]["seconds"].append(round(time.perf_counter() - t0, 2))
            found[name]["best"].append(round(float(candidate.tuning["best_validation_mse_log1p"]), 6))
        finally:
            dfn_module._optimiser = original
    return {
        name: {"seconds": stats(v["seconds"], 2), "best_validation_mse_log1p": v["best"]} for name, v in found.items()
    }


# --- 2. an uncached request ------------------------------------------------------------------------


def build_bundles(count: int, quick: bool) -> list[str]:
    """Promote the serving benchmark's source's stockcodes with the real job: ``pricing run --top`` (4 products).

    Returns the promoted ones, at most ``count`` (the challenger gate is opened: see below; a stockcode held
    by another check has no bundle).
    """
    import subprocess
    import sys

    from pricing_assets.core.bundle import read_pointer
    from pricing_assets.core.store import open_store
    from pricing_assets.settings import Settings

    budget = QUICK_BUDGET if quick else SERVING_BUILD
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    # A request's cost does not depend on how good the model is: the challenger gate (models that lose to a
    # baseline are held, as the small budgets' often are) is opened so that every stockcode gets a bundle.
    env.update(budget, PRICING_SYNTHETIC_PRODUCTS=str(SERVING_PRODUCTS), PRICING_CHALLENGER_TOLERANCE="1000")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "pricing"), "run", "--top", str(SERVING_PRODUCTS)],
        env=env,
        capture_output=True,
        text=True,
    )
    log(f"profiles: pricing run --top {SERVING_PRODUCTS} exited {proc.returncode}")
    store = open_store(Settings.from_env(env))
    promoted = sorted({key.split("/")[1] for key in store.list_keys("promoted/") if key.endswith("/current.json")})
    promoted = [code for code in promoted if read_pointer(store, code)]
    if not promoted:
        raise RuntimeError(f"pricing run promoted nothing to profile:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    log(f"profiles: promoted {promoted}")
    return promoted[:count]


def predict_handler(app: Any) -> Any:
    for route in app.routes:
        if getattr(route, "path", "") == "/v1/predict-price/{stockcode}":
            return route.endpoint
    raise LookupError("no /v1/predict-price/{stockcode} route")


def profile_uncached(out_dir: Path, codes: list[str], requests: int, quick: bool) -> dict[str, Any]:
    from serving.app import Objective, create_app

    app = create_app()
    handler = predict_handler(app)
    registry = app.state.registry
    found = {}
    for code in codes:
        bundle = registry.get(code)
        low, high = bundle.manifest["pricing"]["price_min"], bundle.manifest["pricing"]["price_max"]

        def call(code: str = code, low: float = low, high: float = high, counter=iter(range(1, 10**9))) -> Any:
            return handler(
                code=code,
                unitprice_min=low + next(counter) * 1e-6,
                unitprice_max=high,
                num_price_bins=BINS,
                objective=Objective.revenue,
                unit_cost=None,
            )

        for _ in range(5):
            call()  # lazy model load, first allocations
        timings, misses = [], 0
        for _ in range(requests):
            t0 = time.perf_counter()
            response = call()
            timings.append((time.perf_counter() - t0) * 1000)
            misses += response.headers.get("x-cache") == "miss" and response.status_code == 200
        _, session, profiler = profiled(lambda call=call: [call() for _ in range(requests)], 0.0002)
        name = save_text(profiler, out_dir / f"profile_uncached_request_{code}{'.quick' if quick else ''}.txt")
        found[code] = {
            "champion": bundle.manifest["champion"],
            "curve_source": f"curve from the {json.loads(response.body).get('curve_source', '?')}",
            "requests": requests,
            "all_uncached_200": misses == requests,
            "handler_ms": stats(timings, 2) | {"p90": round(float(np.percentile(timings, 90)), 2)},
            "text": name,
            **summarise_session(session),
        }
        log(f"profiles: {code} uncached handler median {found[code]['handler_ms']['median']} ms")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="tiny budget, one stockcode, 20 requests")
    parser.add_argument("--output", type=Path, default=RESULTS / "profiles.json")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.quick:
        args.requests = 20
        os.environ.update(QUICK_BUDGET)
    record = begin("profiles", args.quick)
    out_dir = args.output.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="profiles_"))
    os.environ["PRICING_PROJECT_DIR"] = str(workdir)
    os.environ.pop("REDIS_URL", None)
    try:
        dfn = profile_dfn_tuning(out_dir, args.quick)
        codes = build_bundles(1 if args.quick else 2, args.quick)
        serving = profile_uncached(out_dir, codes, args.requests, args.quick)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result = {**record, "dfn_tuning": dfn, "uncached_request": serving}
    write_json(args.output, finish(result))
    print(render("profiles", result))


if __name__ == "__main__":
    main()
