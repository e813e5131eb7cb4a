"""The challenger gate on hand-made predictions: what it compares, on which weekly rows, and when it blocks."""

import numpy as np
import pandas as pd
import pytest

from pricing_assets.core.challenger import ChallengerConfig, ServingScore, challenge

CFG = ChallengerConfig(tolerance=0.02, min_rows=20)
N = 60
# 30 weeks x 2 price lists, in the order the split gives them (by week, then list).
TIMES = pd.Series(np.repeat(pd.date_range("2011-05-02", periods=N // 2, freq="7D"), 2))
ROWS = pd.DataFrame({"week": TIMES, "customer_type": ["guest", "registered"] * (N // 2)})
TRUTH = np.log1p(np.random.default_rng(0).integers(1, 30, N)).astype(float)
SEEN_UNTIL = TIMES[30]  # the serving model's test split started here: rows 30.. (week 15 on) are new to it


def off_by(error: float | np.ndarray) -> np.ndarray:
    """Predictions that miss every row by ``error`` on the log1p scale (RMSLE = |error|)."""
    return TRUTH + error


BASELINES = {"recent_mean_baseline": off_by(0.6), "seasonal_naive_baseline": off_by(0.8)}


def serving(predictions: np.ndarray | None, problem: str = "") -> ServingScore:
    return ServingScore("abc123-def", "lightgbm", SEEN_UNTIL, predictions, problem)


def test_first_promotion_passes_when_the_candidate_is_no_worse_than_every_baseline():
    result = challenge(ROWS, TRUTH, "dfn", off_by(0.3), BASELINES, None, CFG)
    assert result.passed and not result.blocks and result.basis == "baselines"
    assert result.candidate_rmsle == pytest.approx(0.3) and result.window_rows == N
    assert "first promotion" in result.reason and "no worse than every baseline" in result.reason
    # A tie with the recent-mean baseline within the tolerance passes; beyond it, it blocks.
    assert challenge(ROWS, TRUTH, "dfn", off_by(0.61), BASELINES, None, CFG).passed
    assert not challenge(ROWS, TRUTH, "dfn", off_by(0.62), BASELINES, None, CFG).passed


def test_first_promotion_blocks_when_a_baseline_does_better():
    result = challenge(ROWS, TRUTH, "dfn", off_by(0.7), BASELINES, None, CFG)
    assert not result.passed and result.blocks
    assert "is surely worse than recent_mean_baseline (RMSLE ratio 95 % 1.17 to 1.17)" in result.reason
    assert result.reason.endswith("by more than 2%, blocks")


def test_a_product_that_sold_nothing_in_its_test_weeks_is_blocked_in_words_not_a_huge_ratio():
    """Every test week without a sale: the baselines forecast 0 exactly, so a ratio of errors would be a number in
    the millions; the reason says what happened instead."""
    quiet = np.zeros(N)
    exact = {"recent_mean_baseline": quiet.copy(), "seasonal_naive_baseline": quiet + 1e-12}
    result = challenge(ROWS, quiet, "dfn", quiet + 0.5, exact, None, CFG)
    assert not result.passed and result.blocks
    assert "surely worse than recent_mean_baseline (which forecast every test week exactly)" in result.reason
    assert "seasonal_naive_baseline (which forecast every test week exactly)" in result.reason
    assert "RMSLE ratio" not in result.reason


def test_first_promotion_worse_only_on_noise_warns_and_promotes():
    """Worse than a baseline on the point estimate, but a few weeks decide it: not surely worse, so it promotes."""
    rng = np.random.default_rng(4)
    errors = rng.normal(0.0, 0.6, N)
    noisy = {"recent_mean_baseline": TRUTH + errors, "seasonal_naive_baseline": off_by(2.0)}
    candidate = TRUTH + errors * rng.choice([0.7, 1.4], N)  # worse overall, better on many weeks
    result = challenge(ROWS, TRUTH, "dfn", candidate, noisy, None, CFG)
    low, high = result.baseline_ratio_interval["recent_mean_baseline"]
    assert result.candidate_rmsle > result.baseline_rmsle["recent_mean_baseline"] * 1.02  # worse on the estimate
    assert low <= 1.02 < high  # ...but the interval reaches back within the tolerance
    assert not result.passed and not result.blocks and result.to_dict()["blocks"] is False
    assert "but not surely over these weeks: a warning, promotes" in result.reason
    # Made surely worse (every row further off), the same comparison blocks.
    sure = challenge(ROWS, TRUTH, "dfn", TRUTH + errors * 1.5, noisy, None, CFG)
    assert not sure.passed and sure.blocks and "surely worse" in sure.reason


def test_a_baseline_champion_never_passes_as_a_first_promotion():
    result = challenge(
        ROWS, TRUTH, "seasonal_naive_baseline", BASELINES["seasonal_naive_baseline"], BASELINES, None, CFG
    )
    assert not result.passed and "itself a baseline" in result.reason


def test_a_candidate_worse_than_serving_on_the_new_weeks_blocks_with_both_errors():
    result = challenge(ROWS, TRUTH, "dfn", off_by(0.4), BASELINES, serving(off_by(0.3)), CFG)
    assert not result.passed and result.blocks and result.basis == "serving bundle"
    assert result.candidate_rmsle == pytest.approx(0.4) and result.serving_rmsle == pytest.approx(0.3)
    assert "worse than serving" in result.reason and "serving bundle stays" in result.reason


def test_within_the_tolerance_the_candidate_passes_and_beyond_it_blocks():
    assert challenge(ROWS, TRUTH, "dfn", off_by(0.305), BASELINES, serving(off_by(0.3)), CFG).passed
    assert not challenge(ROWS, TRUTH, "dfn", off_by(0.31), BASELINES, serving(off_by(0.3)), CFG).passed


def test_only_rows_the_serving_model_never_saw_are_compared():
    """Serving memorised the weeks it was selected on (error 0 there) and misses the new ones by 0.4.

    Over all 60 test rows it would look better than the candidate (0.28 against 0.3); on the 30
    rows (15 weeks) new to both it is worse, and that is the comparison that counts.
    """
    serving_predictions = off_by(np.where(TIMES < SEEN_UNTIL, 0.0, 0.4))
    result = challenge(ROWS, TRUTH, "dfn", off_by(0.3), BASELINES, serving(serving_predictions), CFG)
    assert result.passed, result.reason
    assert result.window_rows == 30 and result.window[0] == str(SEEN_UNTIL)
    assert result.serving_rmsle == pytest.approx(0.4)
    assert "on 30 weekly rows neither was trained or selected on (2011-08-15 to 2011-11-21)" in result.reason


def test_with_too_few_unseen_rows_or_an_unusable_bundle_the_baselines_decide():
    late = ServingScore("abc123-def", "lightgbm", TIMES[N - 6], off_by(0.0))  # the last 3 weeks are new
    few = challenge(ROWS, TRUTH, "dfn", off_by(0.3), BASELINES, late, CFG)
    assert few.passed and few.basis == "baselines" and "only 6 test rows are newer" in few.reason
    broken = challenge(ROWS, TRUTH, "dfn", off_by(0.3), BASELINES, serving(None, "columns missing: ['x']"), CFG)
    assert broken.passed and broken.basis == "baselines" and "cannot be scored: columns missing" in broken.reason
