"""Regenerate the tables of BENCHMARKS.md from the result files, without re-running anything.

Every generated block sits between marker comments, ``<!-- bench:<name> -->`` and
``<!-- /bench:<name> -->``, and is rendered from ``<results-dir>/<name>.json`` alone; everything
outside the markers (the "where the time goes" analysis, conclusions, history) is hand-written
and kept as it is. A block whose JSON is missing is left untouched; a JSON whose markers are
missing gets a new section at the end of the file. ``targets`` is rendered from all of them.

    .venv/bin/python bench/report.py                       # bench/results/*.json -> BENCHMARKS.md
    .venv/bin/python bench/report.py --check               # exit 1 when BENCHMARKS.md is out of date
    .venv/bin/python bench/report.py --results-dir DIR --markdown OUT.md
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchlib import REPO, RESULTS, TARGETS, describe_machine, markdown_table

from pricing_assets.core.store import atomic_write_bytes

MARKDOWN = REPO / "BENCHMARKS.md"
QUICK_NOTE = (
    "> **Quick smoke run** (`--quick`): tiny budgets and sizes, to check the benchmark works; "
    "these figures are not measurements.\n\n"
)


def met(flag: bool | None) -> str:
    return "-" if flag is None else ("**met**" if flag else "**not met**")


def fmt(value: float | None, digits: int = 2, unit: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def spread(s: dict[str, Any] | None, digits: int = 2, unit: str = "") -> str:
    """``median (min-max, n=3)`` of a :func:`benchlib.stats` block."""
    if not s or s.get("median") is None:
        return "-"
    if s["n"] == 1:
        return f"{s['median']:.{digits}f}{unit} (n=1)"
    return f"{s['median']:.{digits}f}{unit} ({s['min']:.{digits}f}-{s['max']:.{digits}f}, n={s['n']})"


def envelope(result: dict[str, Any]) -> str:
    """Command, date, machine and load: the lines every section starts with."""
    lines = [f"- Command: `{result.get('command', '?')}`"]
    when = result.get("date")
    wall = result.get("wall_seconds")
    if when or wall is not None:
        lines.append(f"- Date: {when or 'not recorded'}; wall {fmt(wall, 0, ' s')}")
    machine = describe_machine(result.get("machine", "not recorded"))
    load = ""
    if result.get("loadavg_start") is not None:
        load = f"; load average at start {result['loadavg_start']}, at end {result.get('loadavg_end')}"
    lines.append(f"- Machine: {machine}{load}")
    return "\n".join(lines) + "\n"


# --- pipeline_run -------------------------------------------------------------------------------


def render_pipeline_run(result: dict[str, Any]) -> str:
    runs = result["sources"]
    sources = list(runs)
    stages = []
    for source in sources:
        for stage in runs[source]["stage_seconds"]:
            if stage not in stages:
                stages.append(stage)
    rows = [
        [f"`{stage}`", *[spread(runs[s]["stage_seconds"].get(stage), 2, " s") for s in sources]] for stage in stages
    ]
    rows.append(
        ["lineage run of the stockcode (steps + Dagster)", *[spread(runs[s]["run_seconds"], 1, " s") for s in sources]]
    )
    target = TARGETS["one_stockcode_seconds"]
    rows.append(
        [
            f"**process wall, whole command** (target <= {target:g} s)",
            *[f"**{spread(runs[s]['process_wall_seconds'], 1, ' s')}**: {met(runs[s]['target_met'])}" for s in sources],
        ]
    )
    rows.append(["peak RSS of the process", *[spread(runs[s]["peak_rss_mib"], 0, " MiB") for s in sources]])
    rows.append(["checks passed, every repetition", *[str(runs[s]["checks_passed"]) for s in sources]])
    header = ["stage (median, min-max over repetitions)", *[f"{s}: {runs[s]['description']}" for s in sources]]
    return (
        envelope(result) + f"- Budget: {result['budget']}; {result['repeats']} repetitions, sources interleaved; "
        f"a fresh project folder (SQLite instance, local store) per run\n\n"
        + markdown_table(header, rows, ["---"] + ["---:"] * len(sources))
        + "\n"
    )


# --- throughput ---------------------------------------------------------------------------------


def render_throughput(result: dict[str, Any]) -> str:
    by_executor = result["summary"]["by_executor"]
    sizes = [str(s) for s in result["sizes"]]
    skipped = {(s["executor"], str(s["stockcodes"])): s for s in result["not_measured"]}

    def cell(executor: str, size: str, key: str, digits: int, unit: str = "") -> str:
        if (executor, size) in skipped:
            if key != "stockcodes_per_minute":
                return "-"
            s = skipped[(executor, size)]
            minutes, source = s["estimated_minutes"], s["extrapolated_from"]
            return f"not measured (would take ~{minutes:.0f} min, extrapolated from {source})"
        found = by_executor.get(executor, {}).get(size)
        return spread(found[key], digits, unit) if found else "-"

    rows = []
    for executor in by_executor:
        rows.append(
            [f"**{executor}**: stockcodes per minute", *[cell(executor, n, "stockcodes_per_minute", 2) for n in sizes]]
        )
        rows.append([f"{executor}: backfill wall", *[cell(executor, n, "wall_seconds", 0, " s") for n in sizes]])
        rows.append(
            [
                f"{executor}: one run, worker process (median)",
                *[cell(executor, n, "per_run_seconds_median", 1, " s") for n in sizes],
            ]
        )
    ratios = result["summary"].get("forkserver_over_spawn_throughput") or {}
    if ratios:
        rows.append(
            ["forkserver / spawn, stockcodes per minute", *[f"{ratios[n]}x" if n in ratios else "-" for n in sizes]]
        )
    failed = sum(m["failed"] for m in result["measurements"])
    held = sum(m.get("held_by_check", 0) for m in result["measurements"])
    budget = ", ".join(f"{k}={v}" for k, v in result["budget"].items())
    return (
        envelope(result) + f"- Backfill: {result['definition']}\n"
        f"- Steps: {result['steps']}; source: synthetic, {result['source']['synthetic_products']} products "
        f"({result['source']['eligible']} eligible), seed {result['source']['seed']}\n"
        f"- Budget (reduced, the test suite's): {budget}\n"
        f"- Executors: "
        + "; ".join(f"`{name}` = `{json.dumps(cfg)}`" for name, cfg in result["executors"].items())
        + f"\n- Cells: median (min-max, n = repetitions) of backfills; failed runs: {failed}; runs held by a blocking "
        f"check (counted: they ran up to the gate, as `pricing run` counts them): {held}\n\n"
        + markdown_table(
            ["", *[f"{n} stockcode{'s' if n != '1' else ''}" for n in sizes]], rows, ["---"] + ["---:"] * len(sizes)
        )
        + "\n"
    )


# --- dagster_overhead ---------------------------------------------------------------------------


def _render_dagster_overhead_direct(result: dict[str, Any]) -> str:
    """A result measured against the retired second copy of the lineage (bench/direct.py, before the weekly models)."""
    first = result["in_process"]
    whole = result.get("whole_process")
    target = TARGETS["dagster_overhead_ratio"]
    rows = [
        [
            "one run, in a warm process: `execute_in_process` vs `direct.run_lineage`",
            spread(first["direct_seconds"], 2, " s"),
            spread(first["dagster_seconds"], 2, " s"),
            f"**{first['ratio_median']:.2f}x**",
            met(first["target_met"]),
        ]
    ]
    if whole:
        rows.append(
            [
                "whole command: `pricing run --stockcodes CODE` vs a direct process",
                spread(whole["direct_process_seconds"], 2, " s"),
                spread(whole["pricing_run_cli_seconds"], 2, " s"),
                f"**{whole['ratio_median']:.2f}x**",
                met(whole["target_met"]),
            ]
        )
    table = markdown_table(
        ["comparison", "direct (median, min-max)", "Dagster (median, min-max)", "ratio of medians", f"<= {target}x"],
        rows,
        ["---", "---:", "---:", "---:", "---"],
    )
    step_rows = [
        [f"`{step}`", fmt(v["direct_median"], 2, " s"), fmt(v["dagster_median"], 2, " s"), fmt(v["extra"], 2, " s")]
        for step, v in first["per_step"].items()
    ]
    outside = first["dagster_outside_steps_seconds"]
    step_rows.append(["run outside the steps (start, plan, event log, end)", "-", spread(outside, 2, " s"), "-"])
    steps = markdown_table(
        ["step", "direct stage (median)", "Dagster step (median)", "extra"], step_rows, ["---", "---:", "---:", "---:"]
    )
    same = first["same_result"]
    order = first["step_order"]
    budget = ", ".join(f"{k}={v}" for k, v in result["budget"].items())
    return (
        envelope(result) + "- Measured against `bench/direct.py`'s copy of the per-line lineage, since retired\n"
        f"- Stockcode: {first['stock_code']} ({result['source']}); budget: {budget}\n"
        f"- {result['repeats']} repetitions per side, {result['order']}; warm-up direct run (lazy imports) "
        f"{first['warm_up_seconds']} s, not counted\n"
        f"- Same computation: champion {same['direct']['champion']}, test RMSLE "
        f"{same['direct']['champion_test_rmsle']}, optimal price {same['direct']['optimal_price']} directly; "
        f"{same['dagster']['champion']}, {same['dagster']['champion_test_rmsle']}, {same['dagster']['optimal_price']} "
        f"through Dagster: {'identical in every repetition' if same['equal'] else '**they differ**'}; step order "
        f"{'the same' if order['same'] else '**differs**: ' + ', '.join(order['dagster'])}\n\n"
        f"{table}\n\n{steps}\n"
    )


# What dagster_overhead measured before it recorded its instance: Dagster's own SQLite storages.
OLD_OVERHEAD_INSTANCE = "Dagster's default SQLite storage"


def render_dagster_overhead(result: dict[str, Any]) -> str:
    if "direct_seconds" in result["in_process"]:
        return _render_dagster_overhead_direct(result)
    first = result["in_process"]
    whole = result.get("whole_process")
    target = TARGETS["dagster_overhead_ratio"]
    rows = [
        [
            "one run, in a warm process: `execute_in_process` against its asset bodies",
            spread(first["bodies_seconds"], 2, " s"),
            spread(first["run_seconds"], 2, " s"),
            f"**{first['ratio_median']:.2f}x**",
            met(first["target_met"]),
        ]
    ]
    if whole:
        rows.append(
            [
                "whole command: `pricing run --stockcodes CODE` against a plain script's start-up + the bodies",
                spread(whole["plain_script_seconds"], 2, " s"),
                spread(whole["pricing_run_cli_seconds"], 2, " s"),
                f"**{whole['ratio_median']:.2f}x**",
                met(whole["target_met"]),
            ]
        )
    table = markdown_table(
        ["comparison", "bodies (median, min-max)", "Dagster (median, min-max)", "ratio of medians", f"<= {target}x"],
        rows,
        ["---", "---:", "---:", "---:", "---"],
    )
    step_rows = [
        [f"`{step}`", fmt(v["body_median"], 3, " s"), fmt(v["step_median"], 3, " s"), fmt(v["dagster"], 3, " s")]
        for step, v in first["per_step"].items()
    ]
    outside = spread(first["outside_steps_seconds"], 2, " s")
    step_rows.append(["run outside the steps (start, plan, event log, end)", "-", outside, "-"])
    steps = markdown_table(
        ["step", "asset body (median)", "Dagster step (median)", "Dagster's part"],
        step_rows,
        ["---", "---:", "---:", "---:"],
    )
    budget = ", ".join(f"{k}={v}" for k, v in result["budget"].items())
    blocked = first.get("blocked_by_check", 0)
    return (
        envelope(result) + f"- Stockcode: {first['stock_code']} ({result['source']}); budget: {budget}\n"
        f"- {result['repeats']} repetitions; warm-up run (lazy imports) {first['warm_up_seconds']} s, not counted; "
        f"method: {result['method']}; instance: {result.get('instance', OLD_OVERHEAD_INSTANCE)}\n"
        f"- Champion {', '.join(map(str, first['champions']))}: "
        f"{'the same in every repetition' if first['same_champion'] else '**not the same every time**'}; "
        f"runs with a step error {first['dagster_failures']}, held by a blocking check {blocked}"
        + (
            f" (the challenger gate opened: PRICING_CHALLENGER_TOLERANCE={result['challenger_tolerance']})"
            if result.get("challenger_tolerance")
            else ""
        )
        + "\n\n"
        f"{table}\n\n{steps}\n"
    )


# --- profiles -----------------------------------------------------------------------------------


def _profile_tables(profile: dict[str, Any], libraries: int = 8, functions: int = 8) -> str:
    total = profile["profiled_seconds"] or 1.0
    by_library = markdown_table(
        ["library (self time)", "seconds", "share"],
        [
            [name, f"{seconds:.2f}", f"{100 * seconds / total:.0f} %"]
            for name, seconds in list(profile["by_library_seconds"].items())[:libraries]
        ],
        ["---", "---:", "---:"],
    )
    top = markdown_table(
        ["function (most self time)", "file", "seconds", "share"],
        [
            [f"`{f['function']}`", f"`{f['file']}`", f"{f['seconds']:.2f}", f"{100 * (f['share'] or 0):.0f} %"]
            for f in profile["top_self_time"][:functions]
        ],
        ["---", "---", "---:", "---:"],
    )
    return f"{by_library}\n\n{top}\n"


def render_profiles(result: dict[str, Any]) -> str:
    dfn = result["dfn_tuning"]
    parts = [
        envelope(result) + "\n",
        f"**`dfn_model` tuning** of {dfn['stock_code']} ({dfn['train_rows']} train / {dfn['validation_rows']} "
        f"validation rows, {dfn['features']} features; {dfn['budget']}; trials run {dfn['tuning']['trials_run']}, "
        f"pruned {dfn['tuning']['trials_pruned']}): {dfn['wall_seconds_under_profiler']} s under the profiler; "
        f"tree in `bench/results/{dfn['text']}`.\n\n",
        _profile_tables(dfn),
    ]
    if dfn.get("optimiser_experiment"):
        e = dfn["optimiser_experiment"]
        parts.append(
            "\nThe same tuning with torch's `foreach` optimisers (an experiment in the benchmark, interleaved): "
            f"{spread(e['foreach']['seconds'], 2, ' s')} against {spread(e['as_is']['seconds'], 2, ' s')} as is; "
            f"best validation MSE {e['foreach']['best_validation_mse_log1p']} against "
            f"{e['as_is']['best_validation_mse_log1p']}.\n"
        )
    for code, req in result["uncached_request"].items():
        h = req["handler_ms"]
        parts += [
            f"\n**Uncached `GET /v1/predict-price/{code}`** (champion {req['champion']}, "
            f"{req.get('curve_source', str(req.get('grid_rows')) + ' grid rows')}, "
            f"{BINS_TEXT}): handler median {h['median']} ms, p90 {h['p90']} ms, min {h['min']} ms over "
            f"{req['requests']} calls (every one a 200 miss: {req['all_uncached_200']}); profile of {req['requests']} "
            f"more calls in `bench/results/{req['text']}`.\n\n",
            _profile_tables(req),
        ]
    experiments = result.get("serving_experiments") or {}
    if experiments:
        rows = []
        for code, e in experiments.items():
            base = e["ms"]["as_served"]["median"]
            for name, ms in e["ms"].items():
                rows.append(
                    [
                        f"{code} ({e['champion']})",
                        f"`{name}`",
                        f"{ms['median']:.2f}",
                        f"{ms['p90']:.2f}",
                        f"{ms['min']:.2f}",
                        f"{base / ms['median']:.2f}x" if ms["median"] else "-",
                        "yes" if e["curves_identical"] else "**no**",
                    ]
                )
        first = next(iter(experiments.values()))
        parts += [
            f"\n**Candidate fixes of the uncached path**, `ServedBundle.predict` only, {first['blocks']} interleaved "
            f"blocks of {first['calls_per_block']} calls per variant (torch's default: "
            f"{first['torch_default_threads']} threads):\n\n",
            markdown_table(
                ["stockcode", "variant", "median ms", "p90 ms", "min ms", "speed-up (median)", "same curve"],
                rows,
                ["---", "---", "---:", "---:", "---:", "---:", "---"],
            ),
            "\n",
        ]
    return "".join(parts)


BINS_TEXT = "100 bins, handler called in process, no HTTP"


# --- targets ------------------------------------------------------------------------------------


def _store_ceiling(results: dict[str, dict[str, Any]]) -> str:
    store = results.get("model_quality_store")
    if not store or store.get("quick") or "true_expected_demand_beats_both_wape" not in store["summary"]:
        return ""
    s = store["summary"]
    rolling = s.get("rolling_origin")
    truth_rolling = (
        f" ({rolling['true_expected_demand_beats_both_wape']} on a rolling origin, the champion "
        f"{rolling['beats_both_wape']})"
        if rolling and "true_expected_demand_beats_both_wape" in rolling
        else ""
    )
    median = (
        f", the true median {s['true_median_demand_beats_both_wape']}"
        + (
            f" ({rolling['true_median_demand_beats_both_wape']})"
            if rolling and "true_median_demand_beats_both_wape" in rolling
            else ""
        )
        if "true_median_demand_beats_both_wape" in s
        else ""
    )
    recent = (
        f", the true recent mean {s['true_recent_mean_beats_both_wape']}"
        + (
            f" ({rolling['true_recent_mean_beats_both_wape']})"
            if rolling and "true_recent_mean_beats_both_wape" in rolling
            else ""
        )
        if "true_recent_mean_beats_both_wape" in s
        else ""
    )
    return (
        f"; on the store the champion {s['beats_both_wape']} of {s['stockcodes']}, the true expected demand "
        f"{s['true_expected_demand_beats_both_wape']}{truth_rolling}{median}{recent} (`model_quality_store.json`)"
    )


def render_targets(results: dict[str, dict[str, Any]]) -> str:
    """Every target (issues 4, 6 and 12, the decision targets of 11-13) with its figure, from whatever results exist."""
    rows: list[list[str]] = []

    def add(target: str, figure: str, passed: bool | None, source: str) -> None:
        rows.append([target, figure, met(passed), f"`{source}.json`"])

    if (p := results.get("pipeline_run")) and not p.get("quick"):
        for source, s in p["sources"].items():
            add(
                f"one stockcode raw to promoted <= {TARGETS['one_stockcode_seconds']:g} s ({source})",
                f"{spread(s['process_wall_seconds'], 1, ' s')}",
                s["target_met"],
                "pipeline_run",
            )
    if (o := results.get("dagster_overhead")) and not o.get("quick"):
        first = o["in_process"]
        add(
            f"Dagster overhead <= {TARGETS['dagster_overhead_ratio']}x, one run",
            f"{first['ratio_median']:.2f}x",
            first["target_met"],
            "dagster_overhead",
        )
        if o.get("whole_process"):
            add(
                f"Dagster overhead <= {TARGETS['dagster_overhead_ratio']}x, whole `pricing run` command",
                f"{o['whole_process']['ratio_median']:.2f}x",
                o["whole_process"]["target_met"],
                "dagster_overhead",
            )
    if (c := results.get("catalogue_run")) and not c.get("quick") and "whole_catalogue" in c["arrangements"]:
        whole = c["arrangements"]["whole_catalogue"]
        outcomes = ", ".join(f"{v} {k}" for k, v in whole["outcomes"].items())
        add(
            f"the whole dev catalogue ({whole['stockcodes']} stockcodes) with `pricing run --all` <= 20 min",
            f"{whole['catalogue_minutes_measured']:.1f} min ({outcomes})",
            whole["catalogue_minutes_measured"] <= 20 and whole["exit_codes"] == [0],
            "catalogue_run",
        )
    if (s := results.get("serving_latency")) and not s.get("quick"):
        names = {
            "model cached_p50_ms<=3": "serving, demand-model curve: cached p50 <= 3 ms",
            "model uncached_p50_ms<=30": "serving, demand-model curve: uncached p50 <= 30 ms",
            "model uncached_p99_ms<=100": "serving, demand-model curve: uncached p99 <= 100 ms",
            "model speedup_p50>=5x": "serving, demand-model curve: >= 5x faster than the straightforward app (p50)",
            "response cached_p50_ms<=2": "serving, list-price response (the answer): cached p50 <= 2 ms",
            "response cached_p50_ms<=2 (http.client)": (
                "serving, list-price response (the answer): cached p50 <= 2 ms, the standard library's client"
            ),
            "response uncached_p50_ms<=15": "serving, list-price response (the answer): uncached p50 <= 15 ms",
            "response uncached_p99_ms<=50": "serving, list-price response (the answer): uncached p99 <= 50 ms",
        }
        for key, label in names.items():
            values = {code: checks[key] for code, checks in s["targets"].items() if key in checks}
            if not values:
                continue
            figure = ", ".join(f"{v[0]}{'x' if 'speedup' in key else ' ms'} ({code})" for code, v in values.items())
            add(label, figure, all(v[1] for v in values.values()), "serving_latency")
    if (q := results.get("model_quality")) and not q.get("quick"):
        s_ = q["summary"]
        add(
            "real data: weekly forecast beats both baselines (test WAPE) on "
            f">= {TARGETS['weekly_beats_both_share']:.0%} of codes",
            f"{s_['beats_both_wape']} of {s_['stockcodes']} ({s_['beats_both_share']:.0%})"
            + _rolling_target(q)
            + _store_ceiling(results),
            s_["target_met"],
            "model_quality",
        )
    if (d := results.get("decision_quality")) and not d.get("quick"):
        for target, threshold, figure, passed in decision_targets(d):
            add(f"decision: {target} {threshold}", figure, passed, "decision_quality")
    if not rows:
        return "No full (non-quick) results yet.\n"
    return markdown_table(["target", "figure", "met", "from"], rows, ["---", "---:", "---", "---"]) + "\n"


# --- model_quality ------------------------------------------------------------------------------


def render_model_quality(result: dict[str, Any]) -> str:
    s = result["summary"]
    rows = []
    for r in result["stockcodes"]:
        if "error" in r:
            rows.append([r["stock_code"], "-", "-", "error", r["error"][:60], "", "", "", ""])
            continue
        f, c, w = r["forecast"], r["champion"], r["split_weeks"]
        rows.append(
            [
                r["stock_code"],
                r["weeks"],
                f"{w['train']}/{w['validation']}/{w['test']}",
                c,
                f"{f[c]['test']['wape']:.3f} / {f[c]['test']['rmsle']:.3f}",
                f"{f['recent_mean_baseline']['test']['wape']:.3f} / {f['recent_mean_baseline']['test']['rmsle']:.3f}",
                f"{f['seasonal_naive_baseline']['test']['wape']:.3f} / "
                f"{f['seasonal_naive_baseline']['test']['rmsle']:.3f}",
                ("yes" if r["beats_both_wape"] else "**no**") + (" / yes" if r["beats_both_rmsle"] else " / no"),
                r["lowest_test_wape_any_kind"],
            ]
        )
    table = markdown_table(
        [
            "stockcode",
            "weeks",
            "train/val/test weeks",
            "champion",
            "champion test WAPE / RMSLE",
            "recent mean",
            "seasonal naive",
            "beats both (WAPE / RMSLE)",
            "lowest test WAPE (hindsight)",
        ],
        rows,
        ["---", "---:", "---:", "---", "---:", "---:", "---:", "---", "---"],
    )
    kinds = markdown_table(
        [
            "model",
            "median val WAPE",
            "median test WAPE",
            "median val RMSLE",
            "median test RMSLE",
            "champion",
            "lowest test WAPE",
            "median train s",
        ],
        [
            [
                k,
                fmt(v["median_validation_wape"], 3),
                fmt(v["median_test_wape"], 3),
                fmt(v["median_validation_rmsle"], 3),
                fmt(v["median_test_rmsle"], 3),
                v["champion_count"],
                v["lowest_test_wape_count"],
                fmt(v["median_train_seconds"], 2),
            ]
            for k, v in s["per_kind"].items()
        ],
        ["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"],
    )
    b = result["budget"]
    cat = result["catalogue"]
    return (
        envelope(result)
        + f"- Data: `{result['data']}`; stockcodes: {result['selection']}; {result['processes']} worker processes\n"
        f"- Split: {result['split']}; budget (settings defaults): dfn {b['dfn_trials']} trials of up to "
        f"{b['dfn_max_epochs']} epochs, backups {b['backup_trials']} trials, {b['tuning_seconds']:g} s per study, "
        f"seed {b['seed']}; catalogue elasticity {cat['elasticity']} (SE {cat['standard_error']}) from "
        f"{cat['eligible']} eligible codes\n"
        "- Scored: units per week, both price lists, at the list in force (core/forecast.py), on each code's test "
        "weeks; the champion is the models' mean (ensemble; the lowest validation RMSLE, log1p per row, when "
        "fewer than two members forecast finite values)\n\n"
        f"**Champion's weekly forecast beats both baselines on test WAPE: {s['beats_both_wape']} of "
        f"{s['stockcodes']} codes ({s['beats_both_share']:.0%})** (target >= {s['target_beats_both_share']:.0%}: "
        f"{met(s['target_met'])}); on test RMSLE {s['beats_both_rmsle']}; on both metrics "
        f"{s['beats_both_wape_and_rmsle']}. Beats the recent mean {s['beats_recent_mean_baseline_wape']}, the "
        f"seasonal naive {s['beats_seasonal_naive_baseline_wape']} (WAPE). Median champion test WAPE "
        f"{fmt(s['median_champion_test_wape'], 3)}, RMSLE {fmt(s['median_champion_test_rmsle'], 3)}; the best "
        f"candidate per code with hindsight {fmt(s['median_hindsight_test_wape'], 3)}; median test weeks "
        f"{fmt(s['median_test_weeks'], 0)}; median {fmt(s['median_seconds_per_stockcode'], 1)} s a code."
        f"{_interval(s)}"
        f"{' Errors: ' + json.dumps(s['errors']) if s['errors'] else ''}{_ceiling(s)}{_rolling(s)}\n\n{kinds}\n\n"
        f"<details><summary>Every stockcode</summary>\n\n{table}\n\n</details>\n"
    )


def _ceiling(s: dict[str, Any]) -> str:
    """The store's perfect forecast of the mean, scored on the same weeks (``--source store`` only)."""
    if "true_expected_demand_beats_both_wape" not in s:
        return ""
    return (
        f"\n\n**The true expected demand** (a perfect forecast of the mean, `simulated_store.expected_weekly_units`) "
        f"**beats both baselines on test WAPE on {s['true_expected_demand_beats_both_wape']} of {s['stockcodes']} "
        f"codes ({s['true_expected_demand_beats_both_share']:.0%})**, median test WAPE "
        f"{fmt(s['median_true_expected_demand_test_wape'], 3)}."
        + _oracle(s, "true_median_demand", "test_wape")
        + _oracle(s, "true_recent_mean", "test_wape")
    )


def _interval(s: dict[str, Any]) -> str:
    """How often the champion's 95 % interval of a week's units held the test week (``interval_weeks``)."""
    weeks = s.get("interval_weeks")
    if not weeks or not sum(weeks.values()):
        return ""
    total = sum(weeks.values())
    return (
        f" The champion's 95 % interval of units (`forecast.forecast_next_week`) held {weeks['inside'] / total:.1%} "
        f"of the {total} test weeks ({weeks['below'] / total:.1%} below it, {weeks['above'] / total:.1%} above)."
    )


# The store's forecasts that know its truth (``model_quality.ORACLES``), beyond the true expected demand.
ORACLE_TEXT = {
    "true_median_demand": (
        "The true median",
        "each week's median units over fresh draws of the store's demand, `simulated_store.weekly_units_draws`: "
        "a perfect forecast of the point WAPE rewards, the ceiling of any forecast judged on these weeks",
    ),
    "true_recent_mean": (
        "The true recent mean",
        "the truth's mean over the four weeks before each week: the recent-mean baseline without its noise, a "
        "forecast from history alone",
    ),
}


def _oracle(s: dict[str, Any], name: str, wape: str) -> str:
    """One of the store's forecasts that know its truth (:data:`ORACLE_TEXT`), as a sentence; empty without it."""
    if f"{name}_beats_both_wape" not in s:
        return ""
    title, what = ORACLE_TEXT[name]
    return (
        f" **{title}** ({what}) beats both on {s[f'{name}_beats_both_wape']} "
        f"(median WAPE {fmt(s[f'median_{name}_{wape}'], 3)})."
    )


def _rolling(s: dict[str, Any]) -> str:
    """The champion against the baselines pooled over several forecast origins (``--origins``)."""
    r = s.get("rolling_origin")
    if not r:
        return ""
    truth = (
        f" The true expected demand beats both on {r['true_expected_demand_beats_both_wape']} "
        f"({fmt(r['median_true_expected_demand_wape'], 3)})."
        + _oracle(r, "true_median_demand", "wape")
        + _oracle(r, "true_recent_mean", "wape")
        if "true_expected_demand_beats_both_wape" in r
        else ""
    )
    return (
        f"\n\n**On a rolling origin** ({fmt(r['median_origins'], 0)} origins, each trained again on the weeks "
        f"before it; median {fmt(r['median_test_weeks'], 0)} test weeks a code, pooled): the champions beat both "
        f"baselines on {r['beats_both_wape']} of {s['stockcodes']} codes ({r['beats_both_share']:.0%}); median "
        f"pooled WAPE champion {fmt(r['median_champion_wape'], 3)}, recent mean "
        f"{fmt(r['median_recent_mean_baseline_wape'], 3)}, seasonal naive "
        f"{fmt(r['median_seasonal_naive_baseline_wape'], 3)}.{truth}"
    )


def _rolling_target(result: dict[str, Any] | None) -> str:
    if not result or result.get("quick") or not (r := result["summary"].get("rolling_origin")):
        return ""
    return f"; on a rolling origin ({fmt(r['median_test_weeks'], 0)} test weeks) {r['beats_both_wape']}"


# --- shared by the decision renderers ---------------------------------------------------------


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f} %"


# --- decision_quality ----------------------------------------------------------------------------


def _gain_confidence_table(store: dict[str, Any], sweep: dict[str, Any], settings: list[str]) -> str:
    """The decision benchmark's sweep of PRICING_GAIN_CONFIDENCE: the product's rule on its own estimate and
    on a perfect prior, per confidence, in the margin settings (the hold targets' and the regret target's)."""
    methods = list(next(iter(sweep.values())))
    by_confidence = {str(store["gain_confidence"]): {m: store["summary"]["methods"][m]["settings"] for m in methods}}
    by_confidence.update(sweep)
    names = [n for n in settings if n.startswith("margin")]
    header = ["gain confidence", "estimate"]
    for name in names:
        header += [f"{name}: regret p90", f"{name}: no worse than current", f"{name}: hold near / far"]
    rows = []
    for confidence, per_method in sorted(by_confidence.items(), key=lambda kv: -float(kv[0])):
        for method, per_setting in per_method.items():
            row = [confidence + (" (default)" if confidence == str(store["gain_confidence"]) else ""), method]
            for name in names:
                st = per_setting[name]
                row += [
                    pct(st["regret"]["p90"]),
                    pct(st["no_worse_than_current"]),
                    f"{pct(st['hold_when_current_within_1pct'])} / {pct(st['hold_when_gain_5pct_or_more'])}",
                ]
            rows.append(row)
    return (
        "\nThe product's rule at other gain confidences (`PRICING_GAIN_CONFIDENCE`, `--gain-confidences`): "
        "a move must gain on this share of the elasticity's draws; hold near / far: where today's price is "
        "within 1 % of the best, where the true gain is 5 % or more (targets >= 80 % and <= 10 %):\n\n"
        + markdown_table(header, rows)
        + "\n"
    )


def decision_targets(result: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """The decision benchmark's targets: (target, threshold, figure, passed or None when not measured)."""
    targets, store, real = result["targets"], result.get("store"), result.get("real")
    judged = result.get("judged_method") or result["methods"][0]
    rows: list[tuple[str, str, str, bool | None]] = []

    def at_most(value: float | None, limit: float) -> bool | None:
        return None if value is None else value <= limit

    if store:
        method = store["summary"]["methods"][judged]
        oracle_mae = store["summary"]["methods"].get("family-mean oracle", {}).get("elasticity_mae_all")
        margin = method["settings"]["margin_unbounded"]
        mae_changed, mae_all = method["elasticity_mae_changed"], method["elasticity_mae_all"]
        no_worse = margin["no_worse_than_current"]
        rows += [
            (
                "store elasticity MAE, products with a list change >= 5 %",
                f"<= {targets['elasticity_mae_changed']}",
                fmt(mae_changed),
                at_most(mae_changed, targets["elasticity_mae_changed"]),
            ),
            (
                "store elasticity MAE, all products, against the family-mean oracle's",
                f"<= {targets['elasticity_mae_vs_oracle']}x {fmt(oracle_mae)}",
                fmt(mae_all),
                at_most(mae_all, targets["elasticity_mae_vs_oracle"] * oracle_mae) if oracle_mae else None,
            ),
            (
                "store margin regret median",
                f"<= {pct(targets['regret_median'])}",
                pct(margin["regret"]["median"]),
                at_most(margin["regret"]["median"], targets["regret_median"]),
            ),
            (
                "store margin regret p90",
                f"<= {pct(targets['regret_p90'])}",
                pct(margin["regret"]["p90"]),
                at_most(margin["regret"]["p90"], targets["regret_p90"]),
            ),
            (
                "store: no worse than keeping the current price",
                f">= {pct(targets['no_worse_than_current'])} of products",
                pct(no_worse),
                None if no_worse is None else no_worse >= targets["no_worse_than_current"],
            ),
            (
                "store: curves rising with own price",
                "0 %",
                pct(method["rises_with_price"]),
                at_most(method["rises_with_price"], 0.0),
            ),
        ]
        for name, st in method["settings"].items():
            if st.get("hold") is None or "interval_coverage" not in targets:
                continue
            coverage, near, far = (
                st["optimal_price_interval_coverage"],
                st["hold_when_current_within_1pct"],
                st["hold_when_gain_5pct_or_more"],
            )
            rows += [
                (
                    f"store {name}: optimal-price interval covers the true optimum",
                    f">= {pct(targets['interval_coverage'])}",
                    pct(coverage),
                    None if coverage is None else coverage >= targets["interval_coverage"],
                ),
                (
                    f"store {name}: hold when the current price is within 1 % of the best",
                    f">= {pct(targets['hold_near'])}",
                    pct(near),
                    None if near is None else near >= targets["hold_near"],
                ),
                (
                    f"store {name}: hold when the true gain is 5 % or more",
                    f"<= {pct(targets['hold_far'])}",
                    pct(far),
                    at_most(far, targets["hold_far"]),
                ),
            ]
    if real:
        # The real rows judge the judged method: today's (the product's) when it ran, else the response method.
        today = judged == result["methods"][0] and real["summary"]["fits"]
        r = real["summary"] if today else (real.get("response_summary") or real["summary"])
        stability = r["stability_change"]["median"]
        decisions = r.get("decisions")
        if decisions:
            rows.append(
                (
                    "real: recommendations outside the guardrail or below cost",
                    "0 %",
                    f"{pct(decisions['outside_guardrail'])} / {pct(decisions['below_cost'])}",
                    at_most(max(decisions["outside_guardrail"], decisions["below_cost"]), 0.0),
                )
            )
        rows += [
            ("real: curves rising with price", "0 %", pct(r["rises_with_price"]), at_most(r["rises_with_price"], 0.0)),
            (
                "real: optima on a grid edge",
                f"<= {pct(targets['real_edge'])}",
                pct(r["on_edge"]),
                at_most(r["on_edge"], targets["real_edge"]),
            ),
            (
                "real: recommendation change between cut-offs, median",
                f"<= {pct(targets['real_stability_median'])}",
                pct(stability),
                at_most(stability, targets["real_stability_median"]),
            ),
        ]
    return rows


def render_decision_quality(result: dict[str, Any]) -> str:
    """Store regret per method and setting, elasticity error, calibration, real-data diagnostics, targets."""
    bins = f", {result['bins']} bins" if result.get("bins") else ""
    out = [envelope(result), f"- Today's method, {result['methods'][0]}, at budget {result['budget']}{bins}\n"]
    store = result.get("store")
    real = result.get("real")
    if store:
        s = store["summary"]
        out.append(
            f"\n**Store** ({store['source']}): {s['products']} eligible products, "
            f"{s['products_with_list_change_5pct']} with a list change of 5 % or more; errors {len(store['errors'])}. "
            "Regret = share of the best expected value (true demand, within the setting's band) given up.\n\n"
        )
        header = ["method", "elasticity MAE (all / changed >= 5 %)", "demand rises with price"]
        for name in result["settings"]:
            header += [f"{name}: regret median / p90 / max", f"{name}: no worse than current", f"{name}: on edge"]
        rows = []
        for method, m in s["methods"].items():
            expected = m.get("elasticity_mae_changed_expected")
            row = [
                method,
                f"{fmt(m['elasticity_mae_all'])} / {fmt(m['elasticity_mae_changed'])}"
                + (f" (its posterior's {fmt(expected)})" if expected is not None else ""),
            ]
            row.append(pct(m["rises_with_price"]))
            for name in result["settings"]:
                st = m["settings"][name]
                r = st["regret"]
                row += [f"{pct(r['median'])} / {pct(r['p90'])} / {pct(r['max'])}", pct(st["no_worse_than_current"])]
                row.append(pct(st["on_grid_edge"]))
            rows.append(row)
        out.append(markdown_table(header, rows) + "\n")
        holding = {
            m: v for m, v in s["methods"].items() if v["settings"][result["settings"][0]].get("hold") is not None
        }
        if holding:
            header = [
                "method",
                "setting",
                "hold",
                "hold, where current is within 1 %",
                "hold, where the gain is >= 5 %",
                "interval covers optimum",
            ]
            rows = [
                [
                    m,
                    name,
                    pct(st["hold"]),
                    pct(st["hold_when_current_within_1pct"]),
                    pct(st["hold_when_gain_5pct_or_more"]),
                    pct(st["optimal_price_interval_coverage"]),
                ]
                for m, v in holding.items()
                for name, st in v["settings"].items()
            ]
            out.append(
                '\nWhen a method says "hold" (keep the current price), and whether its optimal-price interval '
                "covers the truth:\n\n"
            )
            out.append(markdown_table(header, rows) + "\n")
        sweep = store.get("gain_confidence_sweep") or {}
        if sweep:
            out.append(_gain_confidence_table(store, sweep, result["settings"]))
    if store and real:
        a, b = store["calibration"], real["calibration"]
        out.append("\n**Calibration** (`price_list.price_setting_profile`, eligible products, Dec-Aug):\n\n")
        out.append(
            markdown_table(
                ["figure", "store", "dev file"],
                [[k, fmt(a[k], 3), fmt(b[k], 3)] for k in a],
                ["---", "---:", "---:"],
            )
            + "\n"
        )
    if real:
        r = real["summary"]
        ratio = r["ratio_to_current"]
        out.append(
            f"\n**Real data** ({r['codes']} most active eligible codes of the dev file, cut-offs 2011-07-31 and "
            f"2011-08-31, {r['fits']} fits, {r['errors']} errors): curves rising with price somewhere "
            f"{pct(r['rises_with_price'])}; optimum on the grid edge {pct(r['on_edge'])}; recommended / current "
            f"list price p10 {fmt(ratio['p10'])}, p25 {fmt(ratio['p25'])}, median {fmt(ratio['median'])}, "
            f"p75 {fmt(ratio['p75'])}, p90 {fmt(ratio['p90'])}; recommendation change between the cut-offs for the "
            f"{r['stability_codes']} codes whose list did not change: median {pct(r['stability_change']['median'])}, "
            f"p90 {pct(r['stability_change']['p90'])}."
            + (
                f" Decisions: hold {pct(r['decisions']['hold'])}, increase {pct(r['decisions']['increase'])}, "
                f"decrease {pct(r['decisions']['decrease'])}, capped {pct(r['decisions']['capped'])}."
                if r.get("decisions")
                else ""
            )
            + "\n"
        )
    if real and real.get("response_summary"):
        r, d = real["response_summary"], real["response_summary"]["decisions"]
        ratio = r["ratio_to_current"]
        reasons = "; ".join(f"{reason} {n}" for reason, n in d["hold_reasons"].items()) or "none"
        catalogue = "; ".join(
            f"{c}: {v['elasticity']:.2f} (SE {v['standard_error']:.2f}, spread {v['spread']:.2f}, "
            f"{v['changers']} of {v['products']} codes changed their list)"
            for c, v in real.get("catalogue_response", {}).items()
        )
        out.append(
            f"\n**Real data, the list-price response method** (the same codes and cut-offs; the catalogue response "
            f"from every eligible code up to each cut-off: {catalogue}; margin within the default guardrail, cost the "
            f"assumed ratio of the list; {r['fits']} answers, {r['errors']} errors): demand rising with price "
            f"{pct(r['rises_with_price'])}; hold {pct(d['hold'])}, increase {pct(d['increase'])}, decrease "
            f"{pct(d['decrease'])}, capped {pct(d['capped'])}; outside the guardrail {pct(d['outside_guardrail'])}, "
            f"below cost {pct(d['below_cost'])}; with own evidence {pct(d['own_evidence'])}; "
            f"a move to the guardrail's edge {pct(r['on_edge'])}; recommended / current p10 {fmt(ratio['p10'])}, "
            f"median {fmt(ratio['median'])}, p90 {fmt(ratio['p90'])}; change between the cut-offs for the "
            f"{r['stability_codes']} codes whose list did not change: median {pct(r['stability_change']['median'])}, "
            f"p90 {pct(r['stability_change']['p90'])}. Hold reasons: {reasons}.\n"
        )
    judged = result.get("judged_method") or result["methods"][0]
    today = real and judged == result["methods"][0] and real["summary"]["fits"]
    real_judged = "today's method" if today or not (real and real.get("response_summary")) else "the response method"
    rows = [[target, threshold, figure, met(passed)] for target, threshold, figure, passed in decision_targets(result)]
    if rows:
        out.append(
            f"\n**Targets** for the price-response and recommendation issues (store rows judged on {judged}; "
            f"real-data rows on {real_judged}):\n\n"
            + markdown_table(["target", "threshold", "figure", "verdict"], rows)
            + "\n"
        )
    return "".join(out)


# --- serving_latency ----------------------------------------------------------------------------


def render_serving_latency(report: dict[str, Any]) -> str:
    # Older results measured one kind of bundles and kept these figures at the top level.
    kinds = report.get("kinds") or {
        "synthetic": {k: report[k] for k in ("other_load", "cold_start_s", "rss_mib_after_runs")}
    }
    busy = ", ".join(f"{v['other_load']['mean_cores_busy_with_other_processes']} ({k})" for k, v in kinds.items())
    lines = [
        f"- Command: `{report['command']}`; wall {report['wall_s']} s; {report['date']}",
        f"- Machine: {describe_machine(report['machine'])}; load average at start {report['loadavg_start']}, "
        f"at end {report['loadavg_end']}; other processes kept {busy} cores busy on average while measuring",
        f"- Server: {report['server']}; clients: {report['clients']}",
        f"- Requests per configuration: cached {report['requests']['cached']}, uncached "
        f"{report['requests']['uncached']}, straightforward {report['requests']['straightforward']}, "
        f"{report['bins']} bins",
    ]
    for kind, build in (report.get("builds") or {}).items():
        lines.append(f"- {kind} bundles built by `{build['command']}` ({build['env']}) in {build['seconds']} s")
    lines += [
        "",
        "| bundles | stockcode (champion) | server | curve | path | clients | p50 ms | p99 ms | req/s |",
        "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    curve_names = {"response": "list-price response", "model": "demand model", "-": "-"}
    for code, info in report["stockcodes"].items():
        for key, run in info["runs"].items():
            name, path, clients = key.split("/")
            # Results before the list-price response curve measured the demand model's only ("cached").
            curve, _, path = path.rpartition("-") if "-" in path else ("-" if path == "healthz" else "model", "", path)
            lines.append(
                f"| {info.get('bundles', 'synthetic, small budget')} | {code} ({info['champion']}) | {name} "
                f"| {curve_names[curve]} | {path} | {clients} | {run['p50_ms']} | {run['p99_ms']} "
                f"| {run['req_per_s']} |"
            )
    lines += [
        "",
        "| stockcode | straightforward / ours, uncached demand-model curve | 1 client | 8 clients |",
        "| --- | --- | ---: | ---: |",
    ]
    for code, info in report["stockcodes"].items():
        r = info["straightforward_over_ours"]
        lines.append(f"| {code} | p50 | {r['p50_ms_1_clients']}x | {r['p50_ms_8_clients']}x |")
        lines.append(f"| {code} | p99 | {r['p99_ms_1_clients']}x | {r['p99_ms_8_clients']}x |")
    lines.append("")
    for kind, figures in kinds.items():
        cold, rss = figures["cold_start_s"], figures["rss_mib_after_runs"]
        lines += [
            f"- {kind}: cold start to first 200 (ours): {cold['ours']} s (median {cold['ours_median']} s); "
            f"straightforward app: {cold['straightforward']} s",
            f"- {kind}: RSS after the runs (MiB, VmRSS / VmHWM): "
            + ", ".join(f"{k} {v.get('VmRSS')} / {v.get('VmHWM')}" for k, v in rss.items()),
        ]
    lines += [
        "",
        "| stockcode | target | value | met |",
        "| --- | --- | ---: | --- |",
    ]
    for code, checks in report["targets"].items():
        for name, (value, passed) in checks.items():
            lines.append(f"| {code} | {name} | {value} | {met(passed)} |")
    lines += ["", "In process, no HTTP, median ms:", ""]
    for code, prof in report["in_process_ms"].items():
        lines.append(
            f"- {code} ({prof['champion']}, {prof['grid_rows']} rows the model scores, {prof['body_bytes']} B body): "
            "ours uncached "
            f"{prof['ours_uncached_median_ms']}; ours cache-hit handler {prof['ours_cache_hit_handler_median_ms']}; "
            f"straightforward {prof['straightforward_median_ms']}"
            + (
                f"; list-price response curve uncached {prof['ours_response_uncached_median_ms']}"
                if prof.get("ours_response_uncached_median_ms")
                else ""
            )
        )
    return "\n".join(lines) + "\n"


# --- catalogue_run ------------------------------------------------------------------------------


def _arrangement_label(name: str, run: dict[str, Any]) -> str:
    if name == "whole_catalogue":
        return f"the whole catalogue, `pricing run --all` ({run['workers']} workers, its default here)"
    if run.get("workers", 1) > 1:
        return f"one command, `--processes {run['workers']}`"
    return f"{name.replace('_', ' ')} ({run['processes']} process{'es' if run['processes'] > 1 else ''})"


def render_catalogue_run(result: dict[str, Any]) -> str:
    runs = result["arrangements"]
    target = 20.0
    rows = []
    for name, run in runs.items():
        measured = run.get("catalogue_minutes_measured")
        minutes = measured if measured is not None else run.get("catalogue_minutes_extrapolated")
        how = "measured" if measured is not None else "extrapolated"
        outcomes = ", ".join(f"{v} {k}" for k, v in run["outcomes"].items() if v)
        rows.append(
            [
                _arrangement_label(name, run),
                str(run["stockcodes"]),
                fmt(run["wall_seconds"], 0, " s"),
                fmt(run["stockcodes_per_minute"], 2),
                spread(run["seconds_per_stockcode"], 1, " s"),
                spread(run["raw_transactions_seconds"], 1, " s"),
                f"{fmt(minutes, 1 if measured is not None else 0, ' min')} {how}: "
                f"{met(minutes is not None and minutes <= target)}",
                outcomes or "-",
                " -> ".join(str(run[k]) for k in ("load_average_at_start", "load_average_at_end") if k in run),
            ]
        )
    header = [
        "arrangement",
        "stockcodes",
        "wall",
        "stockcodes per minute",
        "seconds per stockcode (median, min-max)",
        "source load per process",
        f"whole catalogue ({result['eligible']}) (target <= {target:g} min)",
        "outcomes",
        "load average (1, 5, 15 min) at start -> end",
    ]
    text = (
        envelope(result)
        + f"- Source: {result['source']}, the {len(result['chosen'])} most active of {result['eligible']} eligible "
        f"stockcodes ({', '.join(result['chosen'])}); budget {result['budget']}; fresh project folders\n\n"
        + markdown_table(header, rows, ["---"] + ["---:"] * (len(header) - 1))
        + "\n"
    )
    for summary in runs.get("whole_catalogue", {}).get("catalogue", []):
        held = ", ".join(f"{n} by {check}" for check, n in summary["held_by_check"].items()) or "none"
        decisions = ", ".join(f"{n} {kind}" for kind, n in summary["recommendations"].items() if n)
        reasons = "; ".join(f"{n}: {why}" for why, n in summary["hold_reasons"].items())
        text += (
            f"\nThe whole catalogue ended with {summary['outcomes']['promoted']} promoted and "
            f"{summary['outcomes']['held']} held ({held}), {summary['outcomes']['failed']} failed; "
            f"recommendations: {decisions} (hold reasons: {reasons}).\n"
        )
    if stored := runs.get("whole_catalogue", {}).get("store_megabytes"):
        text += (
            f"\nIts artifact store held {fmt(stored['total'], 0, ' MB')} at the end: the drift reports' pages "
            f"{fmt(stored['drift_reports'], 0, ' MB')}, Evidently's script and font they share "
            f"{fmt(stored['evidently'], 1, ' MB')}.\n"
        )
    stages_of = "whole_catalogue" if "whole_catalogue" in runs else next(iter(runs))
    first = runs[stages_of]
    share = first["stage_share"]
    stage_rows = [
        [f"`{step}`", spread(first["stage_seconds"][step], 2, " s"), f"{100 * share[step]:.0f} %"]
        for step in sorted(share, key=lambda k: -share[k])
    ]
    stage_rows.append(
        ["outside the steps (run set-up, event log, IO)", spread(first["outside_steps_seconds"], 2, " s"), "-"]
    )
    return (
        text + f"\nOne stockcode's cost by step ({stages_of.replace('_', ' ')}; median, min-max over its stockcodes; "
        "share of the stockcodes' run time):\n\n"
        + markdown_table(["step", "seconds", "share"], stage_rows, ["---", "---:", "---:"])
        + "\n"
    )


# --- serving_scale ------------------------------------------------------------------------------


def render_serving_scale(result: dict[str, Any]) -> str:
    runs = result["runs"]
    mib = 2**20
    memory_rows, latency_rows = [], []
    for name, run in runs.items():
        rss, end = run["rss_mib"], run["loaded_at_end"]
        memory_rows.append(
            [
                name,
                f"{run['bound_bytes'] / mib:.0f} MiB",
                f"{run['start']['to_healthz_s']:.2f} s",
                f"{run['start']['first_answer_ms']:.0f} ms",
                f"{rss['after_start']['VmRSS']:.0f}",
                f"{rss['after_every_bundle']['VmRSS']:.0f} / {rss['after_every_bundle']['VmHWM']:.0f}",
                f"{end['bundles']} ({end['bytes'] / mib:.0f} MiB; {end['evicted']} dropped)",
                f"{run['stockcodes_ms']['first']:.1f} / {run['stockcodes_ms']['repeated_p50']:.1f} ms",
                "{p50_ms:.1f} / {p99_ms:.1f}".format(**run["every_bundle_first_request"]),
            ]
        )
        for when in ("three_before_every_bundle", "three_after_every_bundle"):
            figures = run[when]
            latency_rows.append(
                [
                    name,
                    "before" if when.endswith("before_every_bundle") else "after",
                    f"{figures['response_uncached']['p50_ms']} / {figures['response_uncached']['p99_ms']}",
                    f"{figures['response_cached']['p50_ms']} / {figures['response_cached']['p99_ms']}",
                    f"{figures['model_uncached']['p50_ms']} / {figures['model_uncached']['p99_ms']}",
                ]
            )
    return (
        envelope(result)
        + f"- {result['copies']} copies of {', '.join(result['copies_of'])} (round robin) promoted under X0000.. in "
        f"{result['promote_copies_s']} s; {result['bins']} bins, {result['requests_per_figure']} requests per figure "
        f"({result['requests_per_figure'] // 2} for the model curve); {result['server']}\n\n"
        + markdown_table(
            [
                "catalogue",
                "bound",
                "start-up to /healthz",
                "first answer",
                "RSS after start-up (MiB)",
                "RSS / peak after every bundle (MiB)",
                "loaded at the end",
                "/v1/stockcodes, first / repeated",
                "every bundle's first request, p50 / p99 ms",
            ],
            memory_rows,
            ["---"] + ["---:"] * 8,
        )
        + "\n\nRequests on three stockcodes, before and after every bundle of the catalogue was asked for once "
        "(p50 / p99 ms, 1 client):\n\n"
        + markdown_table(
            ["catalogue", "every bundle asked for", "answer, uncached", "answer, cached", "model curve, uncached"],
            latency_rows,
            ["---", "---", "---:", "---:", "---:"],
        )
    )


# --- ui_scale -----------------------------------------------------------------------------------

UI_SCALE_ROWS = {
    "graphql_seconds": [
        (
            "check_partition_statuses",
            "GraphQL: every check's status per partition (`partitionStatuses` of the 3 checks)",
        ),
        (
            "check_executions_every_partition",
            "GraphQL: every partition's check executions with their evaluations (3 `assetCheckExecutions`)",
        ),
        (
            "asset_partition_statuses",
            "GraphQL: partition status of 6 main assets (`assetPartitionStatuses`, `partitionStats`)",
        ),
        (
            "check_executions_one_partition",
            "GraphQL: one partition's check executions (the deploy/OPERATIONS.md query, median over the sample)",
        ),
    ],
    "page_seconds": [
        ("asset_partitions_page", "Chromium: `drift_report`'s partitions page, navigation to content shown"),
        ("asset_checks_page", "Chromium: `drift_report`'s checks page (`no_feature_drift`'s latest execution)"),
        ("check_partitions_tab", "Chromium: the check's partitions tab, click to the status counts shown"),
    ],
}


def render_ui_scale(result: dict[str, Any]) -> str:
    """Per storage: seconds per GraphQL query and page load, median of the rounds after the first, and the first."""
    storages = result["storages"]
    names = list(storages)
    first = storages[names[0]]
    events = ", ".join(
        f"{s}: {storages[s]['runless_events']} events in {storages[s]['record_seconds']:.0f} s" for s in names
    )
    budget = ", ".join(f"{k.removeprefix('PRICING_').lower()} {v}" for k, v in result["budget"].items())
    lines = [
        envelope(result),
        f"- Source: {result['source']}; {first['partitions']} stockcode partitions: one real lineage run "
        f"({first['template_stockcode']}, budget: {budget}) and its results recorded for every other "
        f"partition as runless events ({events}); measured rounds after a first one: {result['repeats']}",
        "- Failed check evaluations recorded: "
        + "; ".join(f"{c} {n}" for c, n in first["failed_by_check"].items())
        + "; partitions materialised: "
        + ", ".join(f"{a} {n}" for a, n in first["materialized"].items()),
        "",
    ]
    rows = []
    for block, measures in UI_SCALE_ROWS.items():
        for key, label in measures:
            cells = []
            for storage in names:
                found = storages[storage].get(block, {}).get(key)
                if not found:
                    cells.append(storages[storage].get("pages_not_measured") or "-")
                    continue
                cells.append(f"{spread(found, 3, ' s')}; first {fmt(found['first'], 3, ' s')}")
            rows.append([label, *cells])
    one = {s: storages[s]["graphql_seconds"]["check_executions_one_partition"]["median"] for s in names}
    rows.append(
        [
            f"the one-partition query asked for each of the {first['partitions']} partitions in turn (extrapolated)",
            *[fmt(one[s] * storages[s]["partitions"] if one[s] is not None else None, 0, " s") for s in names],
        ]
    )
    header = ["measure (median, min-max over rounds; first round after start-up)", *names]
    lines.append(markdown_table(header, rows, ["---"] + ["---:"] * len(names)))
    return "\n".join(lines) + "\n"


# --- the file -----------------------------------------------------------------------------------

RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "pipeline_run": render_pipeline_run,
    "throughput": render_throughput,
    "dagster_overhead": render_dagster_overhead,
    "profiles": render_profiles,
    "model_quality": render_model_quality,
    "model_quality_store": render_model_quality,
    "serving_latency": render_serving_latency,
    "serving_scale": render_serving_scale,
    "decision_quality": render_decision_quality,
    "ui_scale": render_ui_scale,
    "catalogue_run": render_catalogue_run,
}


def render(name: str, result: dict[str, Any]) -> str:
    """The block of one benchmark, as it goes between its markers."""
    body = RENDERERS[name](result)
    return (QUICK_NOTE + body) if result.get("quick") else body


def load_results(results_dir: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for name in RENDERERS:
        path = Path(results_dir) / f"{name}.json"
        if path.exists():
            found[name] = json.loads(path.read_text())
    return found


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"


def replace_block(text: str, name: str, body: str) -> tuple[str, bool]:
    """``text`` with the block of ``name`` replaced (or appended); True when the markers existed."""
    start, end = _markers(name)
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text, count=1), True
    return text.rstrip() + f"\n\n## {name}\n\n{block}\n", False


def render_markdown(text: str, results: dict[str, dict[str, Any]]) -> tuple[str, list[str], list[str]]:
    """Every block with a result replaced; returns the text, the rendered names and the appended ones."""
    rendered, appended = [], []
    blocks = {name: render(name, result) for name, result in results.items()}
    if "targets" not in results:
        blocks["targets"] = render_targets(results)
    for name, body in blocks.items():
        text, existed = replace_block(text, name, body)
        rendered.append(name)
        if not existed:
            appended.append(name)
    return text, rendered, appended


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--markdown", type=Path, default=MARKDOWN, help="the file to update in place")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when the file is out of date")
    args = parser.parse_args(argv)
    results = load_results(args.results_dir)
    before = args.markdown.read_text() if args.markdown.exists() else "# Benchmarks\n"
    after, rendered, appended = render_markdown(before, results)
    if args.check:
        stale = after != before
        print(f"{args.markdown} is {'OUT OF DATE' if stale else 'up to date'} with {args.results_dir}")
        return 1 if stale else 0
    atomic_write_bytes(args.markdown, after.encode())  # an interrupted render leaves the old file, not half
    print(f"rendered {', '.join(rendered)} into {args.markdown}" + (f"; appended {appended}" if appended else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
