from pathlib import Path

import pytest

from pricing_assets.settings import Settings


def test_every_field_reads_its_pricing_variable(tmp_path):
    settings = Settings.from_env(
        {
            "PRICING_PROJECT_DIR": str(tmp_path),
            "PRICING_DFN_TRIALS": "4",
            "PRICING_TUNING_SECONDS": "12.5",
            "PRICING_SPLIT_TRAIN_END": "2011-06-01",
            "PRICING_SPLIT_VALIDATION_END": "2011-07-01",
            "PRICING_STORE_ROOT": str(tmp_path / "store"),
            "PRICING_DRIFT_REFERENCE_DAYS": "90",
            "PRICING_FAIRNESS_THRESHOLD": "0.1",
        }
    )
    assert settings.project_dir == Path(tmp_path).resolve()
    assert (settings.dfn_trials, settings.tuning_seconds, settings.drift_reference_days) == (4, 12.5, 90)
    assert (settings.split_train_end, settings.split_validation_end) == ("2011-06-01", "2011-07-01")
    assert settings.artifact_root == (tmp_path / "store").resolve() and settings.fairness_threshold == 0.1
    defaults = Settings.from_env({"PRICING_PROJECT_DIR": str(tmp_path)})
    assert (defaults.dfn_trials, defaults.backup_trials, defaults.price_bins) == (10, 15, 50)


@pytest.mark.parametrize(
    "variable,value,message",
    [
        ("PRICING_DFN_TRIALS", "many", "PRICING_DFN_TRIALS='many' is not a valid int"),
        ("PRICING_BACKUP_TRIALS", "0", "PRICING_BACKUP_TRIALS"),
        ("PRICING_TUNING_SECONDS", "-1", "PRICING_TUNING_SECONDS"),
        ("PRICING_PRICE_BINS", "100000", "PRICING_PRICE_BINS"),
        ("PRICING_FAIRNESS_THRESHOLD", "0", "PRICING_FAIRNESS_THRESHOLD"),
        ("PRICING_ENV", "staging", "PRICING_ENV"),
    ],
)
def test_bad_values_name_the_variable_to_fix(tmp_path, variable, value, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env({"PRICING_PROJECT_DIR": str(tmp_path), variable: value})
