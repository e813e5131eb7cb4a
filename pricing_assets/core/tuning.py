"""Bounded, seeded Optuna studies with progress reports.

Every model is tuned the same way: a TPE sampler seeded from the run's seed, a median pruner
for models that report intermediate scores, and a budget of trials *and* seconds. The score is
the validation ``mse_log1p``; the test split is never handed to a study.

Reproducibility: the same data, code and seed give the same trials, as long as the trial budget
is reached before the time budget. The time budget is a safety net for slow machines, and the
number of trials actually run is reported, so a study cut short by time is visible.

Fits that stop at their iteration limit (scikit-learn's ``ConvergenceWarning``) are counted per
trial and reported once per study ("elasticnet: 2 of 15 trials did not converge") instead of one
warning per fit flooding the terminal; the count is in the model's metadata as well.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from sklearn.exceptions import ConvergenceWarning

ProgressFn = Callable[[str], None]
log = logging.getLogger(__name__)
# A study reports its progress at most this often, and always at its last trial: every trial's line
# was an event in the run's log (several hundred per stockcode, a tenth of its run time on the
# embedded instance) for studies that mostly last under a second.
PROGRESS_SECONDS = 5.0


@dataclass(frozen=True)
class TuningBudget:
    trials: int
    seconds: float

    def __post_init__(self) -> None:
        if self.trials < 1 or self.seconds <= 0:
            raise ValueError(f"a tuning budget needs at least 1 trial and some seconds, got {self}")


@dataclass
class TuningResult:
    """The best trial's parameters and score, the fitted best model, and what the study did."""

    best_params: dict[str, Any]
    best_score: float
    best_model: Any
    trials_run: int
    trials_pruned: int
    seconds: float
    stopped_by_time: bool
    trials_not_converged: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "best_params": self.best_params,
            "best_validation_mse_log1p": self.best_score,
            "trials_run": self.trials_run,
            "trials_pruned": self.trials_pruned,
            "seconds": round(self.seconds, 3),
            "stopped_by_time": self.stopped_by_time,
            "trials_not_converged": self.trials_not_converged,
        }


def tune(
    name: str,
    objective: Callable[[optuna.Trial], tuple[float, Any]],
    budget: TuningBudget,
    seed: int,
    progress: ProgressFn | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> TuningResult:
    """Run ``objective`` (returning ``(validation score, fitted model)``) within ``budget``.

    Only the best model is kept in memory, so a study never needs to refit at the end.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(5, budget.trials))
    study = optuna.create_study(direction="minimize", sampler=sampler, pruner=pruner or optuna.pruners.NopPruner())
    best: dict[str, Any] = {"score": float("inf"), "model": None}
    report = progress or log.info
    started = time.perf_counter()

    not_converged: set[int] = set()
    last_report = {"at": started}

    def wrapped(trial: optuna.Trial) -> float:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            score, model = objective(trial)
        for w in caught:  # ours are counted; anything else is passed on as it came
            if issubclass(w.category, ConvergenceWarning):
                not_converged.add(trial.number)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if score < best["score"]:
            best.update(score=score, model=model)
        return score

    def on_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        now = time.perf_counter()
        last = trial.number + 1 >= budget.trials or now - started >= budget.seconds
        if not last and now - last_report["at"] < PROGRESS_SECONDS:
            return
        last_report["at"] = now
        state = trial.state.name.lower()
        value = f"{trial.value:.4f}" if trial.value is not None else "-"
        best_value = f"{study.best_value:.4f}" if any(t.value is not None for t in study.trials) else "-"
        note = " (did not converge)" if trial.number in not_converged else ""
        report(
            f"{name}: trial {trial.number + 1}/{budget.trials} {state}{note} val_mse_log1p={value} best={best_value} "
            f"({now - started:.1f}s)"
        )

    study.optimize(wrapped, n_trials=budget.trials, timeout=budget.seconds, callbacks=[on_trial])
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not completed or best["model"] is None:
        raise RuntimeError(
            f"{name}: no trial completed within {budget.seconds}s; raise the time budget (PRICING_TUNING_SECONDS)"
        )
    elapsed = time.perf_counter() - started
    if not_converged:
        report(
            f"{name}: {len(not_converged)} of {len(study.trials)} trials did not converge within their iteration "
            "limit (their scores still count; see trials_not_converged in the metadata)"
        )
    return TuningResult(
        best_params=dict(study.best_trial.params),
        best_score=float(study.best_value),
        best_model=best["model"],
        trials_run=len(study.trials),
        trials_pruned=sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
        seconds=elapsed,
        stopped_by_time=len(study.trials) < budget.trials,
        trials_not_converged=len(not_converged),
    )
