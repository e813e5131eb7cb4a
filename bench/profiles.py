"""Where the time goes: pyinstrument profiles of the slowest stage and of an uncached price request.

1. ``dfn_model``'s tuning (the slowest stage, see pipeline_run.py) with the product's default
   budget, on the stockcode pipeline_run.py measures (the most active of the default synthetic
   source): ``TRAINERS["dfn"]`` on the same design matrices the asset builds.
2. An uncached ``GET /v1/predict-price/{stockcode}`` (100 bins): promoted bundles are built with
   ``bench/direct.py`` (the budget serving_latency.py builds with, on its 4-product source), the
   app comes from ``serving.app.create_app``, and the route's handler is called in this thread
   with ``unitprice_min`` moved by 1e-6 each time, so every call is a cache miss. The HTTP layer
   (uvicorn, routing, about 1.6 ms: serving_latency.py's ``/healthz``) is not in this profile.

Each profile is saved as pyinstrument's text tree (``profile_*.txt`` beside the JSON) and
summarised in the JSON: seconds by library (self time of the Python frames, C calls counted in
the frame that made them) and the functions with the most self time.

    .venv/bin/python bench/profiles.py
    .venv/bin/python bench/profiles.py --quick     # tiny budget, one stockcode, few requests
"""

from __future__ import annotations

import argparse
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
    import direct

    from pricing_assets.core import splits, tuning
    from pricing_assets.core.models import TRAINERS
    from pricing_assets.core.stockcodes import eligible_stockcodes
    from pricing_assets.settings import Settings

    settings = Settings.from_env().with_(synthetic_products=24)
    source = direct.load_raw(settings)
    code = eligible_stockcodes(source.history, settings.min_history_rows, settings.min_history_days)[0]
    cfg = splits.SplitConfig(settings.split_train_fraction, settings.split_validation_fraction)
    prepared = direct.prepare(source.transactions, code, cfg)
    seen = prepared.frame[prepared.frame[splits.SPLIT_COLUMN] != "test"]
    data = splits.design_matrices(seen, prepared.preprocessor, ("train", "validation"))
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
    """Promote the ``count`` most active stockcodes of the serving benchmark's source, directly."""
    import direct

    from pricing_assets.core.stockcodes import eligible_stockcodes
    from pricing_assets.core.store import open_store
    from pricing_assets.settings import Settings

    budget = QUICK_BUDGET if quick else SERVING_BUILD
    settings = Settings.from_env().with_(
        synthetic_products=SERVING_PRODUCTS,
        dfn_trials=int(budget["PRICING_DFN_TRIALS"]),
        backup_trials=int(budget["PRICING_BACKUP_TRIALS"]),
        **({"dfn_max_epochs": int(QUICK_BUDGET["PRICING_DFN_MAX_EPOCHS"])} if quick else {}),
    )
    source = direct.load_raw(settings)
    codes = eligible_stockcodes(source.history, settings.min_history_rows, settings.min_history_days)[:count]
    store = open_store(settings)
    for code in codes:
        outcome = direct.run_lineage(source, code, settings, store)
        log(f"profiles: promoted {code} ({outcome.champion}) as {outcome.promoted_version}")
    return codes


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
            "scenario_rows": len(bundle.scenario),
            "grid_rows": len(bundle.scenario) * BINS,
            "requests": requests,
            "all_uncached_200": misses == requests,
            "handler_ms": stats(timings, 2) | {"p90": round(float(np.percentile(timings, 90)), 2)},
            "text": name,
            **summarise_session(session),
        }
        log(f"profiles: {code} uncached handler median {found[code]['handler_ms']['median']} ms")
    return found


def serving_experiments(codes: list[str], blocks: int, per_block: int) -> dict[str, Any]:
    """Candidate fixes of the uncached path, timed against the path as served, interleaved.

    Only ``ServedBundle.predict`` (the curve), not the whole handler: ``as_served`` is the
    registry's call; ``with_base`` passes the scenario the registry already preprocessed when it
    loaded the bundle (``ServedBundle.base``) to ``predict_curve``, instead of letting
    ``grid_matrix`` transform the scenario again on every request; for a network champion,
    ``with_base_torch_1_thread`` also runs the forward pass on one thread (torch's default is one
    per core, which waits for a busy core on a shared machine). The curves must be identical.
    """
    import torch

    from pricing_assets.core.pricing import predict_curve
    from pricing_assets.core.store import open_store
    from pricing_assets.settings import Settings
    from serving.registry import BundleRegistry

    registry = BundleRegistry(open_store(Settings.from_env()))
    threads = torch.get_num_threads()
    found = {}
    for code in codes:
        bundle = registry.get(code)
        champion = bundle.manifest["champion"]
        model, quantiles = bundle._model(champion), bundle.residual_quantiles(champion)
        low, high = bundle.manifest["pricing"]["price_min"], bundle.manifest["pricing"]["price_max"]

        def with_base(prices: np.ndarray, bundle: Any = bundle, model: Any = model, quantiles: Any = quantiles) -> Any:
            return predict_curve(model, bundle.preprocessor, bundle.scenario, prices, quantiles, base=bundle.base)

        variants = {"as_served": bundle.predict, "with_base": with_base}
        if champion == "dfn":
            variants["with_base_torch_1_thread"] = with_base
        same = True
        timings: dict[str, list[float]] = {name: [] for name in variants}
        names = list(variants)
        for block in range(blocks):
            for name in names[block % len(names) :] + names[: block % len(names)]:
                torch.set_num_threads(1 if name.endswith("1_thread") else threads)
                for i in range(per_block):
                    prices = np.linspace(low + (block * per_block + i + 1) * 1e-6, high, BINS)
                    t0 = time.perf_counter()
                    answer = variants[name](prices)
                    timings[name].append((time.perf_counter() - t0) * 1000)
                    curve = answer.curve.curve if hasattr(answer, "model") else answer.curve
                    if i == 0:
                        reference = bundle.predict(prices).curve.curve
                        same = same and bool(np.allclose(curve.to_numpy(), reference.to_numpy(), rtol=1e-9, atol=1e-12))
        torch.set_num_threads(threads)
        found[code] = {
            "champion": champion,
            "torch_default_threads": threads,
            "blocks": blocks,
            "calls_per_block": per_block,
            "ms": {
                name: stats(values, 2) | {"p90": round(float(np.percentile(values, 90)), 2)}
                for name, values in timings.items()
            },
            "curves_identical": same,
        }
        log(
            f"profiles: experiments on {code}: "
            + ", ".join(f"{n} {v['median']} ms" for n, v in found[code]["ms"].items())
        )
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
        experiments = serving_experiments(codes, 2 if args.quick else 8, 10 if args.quick else 40)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result = {**record, "dfn_tuning": dfn, "uncached_request": serving, "serving_experiments": experiments}
    write_json(args.output, finish(result))
    print(render("profiles", result))


if __name__ == "__main__":
    main()
