"""A study reports fits that stopped at their iteration limit once, as a count, instead of a warning per fit."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet

from pricing_assets.core import tuning
from pricing_assets.core.models.linear import train_elasticnet
from pricing_assets.core.tuning import TuningBudget, tune


def test_non_converged_trials_are_counted_and_summarised_not_flooded(monkeypatch):
    monkeypatch.setattr(tuning, "PROGRESS_SECONDS", 0.0)  # a slow study: every trial's progress line is written
    lines: list[str] = []

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        if trial.number % 2 == 0:  # trials 1, 3, 5 (numbered from 1) stop short, twice each
            warnings.warn("Objective did not converge", ConvergenceWarning, stacklevel=1)
            warnings.warn("Objective did not converge", ConvergenceWarning, stacklevel=1)
        if trial.number == 1:
            warnings.warn("something else", UserWarning, stacklevel=1)
        return x, {"x": x}

    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        result = tune("elasticnet", objective, TuningBudget(5, 60), seed=7, progress=lines.append)
    assert result.trials_not_converged == 3 and result.summary()["trials_not_converged"] == 3
    assert "elasticnet: 3 of 5 trials did not converge" in lines[-1]
    assert sum("(did not converge)" in line for line in lines) == 3
    assert [w.category for w in escaped] == [UserWarning]  # other warnings pass through, ours do not


def test_elasticnet_studies_on_a_product_report_their_convergence(design):
    """The real trainer's summary carries the count (0 here: the iteration budget suffices)."""
    lines: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # none may escape the study
        candidate = train_elasticnet(design, TuningBudget(3, 60), seed=7, progress=lines.append)
    assert candidate.tuning["trials_not_converged"] == 0
    assert not any("did not converge" in line for line in lines)
    x, y = design.x["train"].astype(float), design.y["train"].astype(float)
    with pytest.warns(ConvergenceWarning):  # the count is not vacuous: a starved fit does warn
        ElasticNet(alpha=1e-4, l1_ratio=0.1, max_iter=2).fit(x, y)
    assert np.isfinite(candidate.tuning["best_validation_mse_log1p"])
