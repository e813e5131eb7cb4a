from dataclasses import fields
from pathlib import Path

import pytest

from pricing_assets import cli
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


CHOICES = {
    "env": "production",
    "source": "uci",
    "executor": "in_process",
    "objective": "revenue",
    "sqlite_synchronous": "normal",
    "gain_confidence": ("0.9", 0.9),  # (raw, parsed) where the two differ
    "split_train_end": "2011-06-01",
    "split_validation_end": "2011-07-01",
}  # a valid value other than the default
EXTRA = {  # what a changed value needs beside it to be valid
    "env": {"PRICING_S3_BUCKET": "a-bucket"},
    "split_train_end": {"PRICING_SPLIT_VALIDATION_END": "2011-07-01"},  # cut-off dates come in pairs
    "split_validation_end": {"PRICING_SPLIT_TRAIN_END": "2011-06-01"},
}


def changed_value(name: str, kind: str, default: object, tmp_path: Path) -> tuple[str, object]:
    """A raw value for ``PRICING_<NAME>`` and what it should parse to, different from the default."""
    if name in CHOICES:
        choice = CHOICES[name]
        return choice if isinstance(choice, tuple) else (choice, choice)
    if kind.startswith("Path"):
        return str(tmp_path / name), (tmp_path / name).resolve()
    if kind.startswith("str"):
        return f"value-of-{name}", f"value-of-{name}"
    number = int if kind.startswith("int") else float
    base = number(default) if default is not None else number(3)
    for candidate in (base + 1, base * 3 // 2 if number is int else base * 1.5, base - 1, base / 2):
        if candidate != default:
            try:
                Settings.from_env({"PRICING_PROJECT_DIR": str(tmp_path), f"PRICING_{name.upper()}": str(candidate)})
            except ValueError:
                continue
            return str(candidate), number(candidate)
    raise AssertionError(f"no valid value other than the default found for {name}; give one in CHOICES")


def test_every_field_reads_its_own_pricing_variable(tmp_path):
    """Each field, every one (a new field is covered by construction), set alone through its variable."""
    defaults = Settings.from_env({"PRICING_PROJECT_DIR": str(tmp_path)})
    checked = []
    for f in fields(Settings):
        if f.name == "project_dir":
            continue
        raw, expected = changed_value(f.name, str(f.type), getattr(defaults, f.name), tmp_path)
        environ = {"PRICING_PROJECT_DIR": str(tmp_path), f"PRICING_{f.name.upper()}": raw, **EXTRA.get(f.name, {})}
        settings = Settings.from_env(environ)
        assert getattr(settings, f.name) == expected != getattr(defaults, f.name), f.name
        changed = [g.name for g in fields(Settings) if getattr(settings, g.name) != getattr(defaults, g.name)]
        assert set(changed) <= {f.name, *(k[len("PRICING_") :].lower() for k in EXTRA.get(f.name, {}))}, changed
        checked.append(f.name)
    assert len(checked) == len(fields(Settings)) - 1
    assert Settings.from_env({"PRICING_PROJECT_DIR": str(tmp_path), "REDIS_URL": "redis://h/1"}).redis_url == (
        "redis://h/1"
    )


@pytest.mark.parametrize(
    "variable,value,message",
    [
        ("PRICING_DFN_TRIALS", "many", "PRICING_DFN_TRIALS='many' is not a valid int"),
        ("PRICING_BACKUP_TRIALS", "0", "PRICING_BACKUP_TRIALS"),
        ("PRICING_TUNING_SECONDS", "-1", "PRICING_TUNING_SECONDS"),
        ("PRICING_PRICE_BINS", "100000", "PRICING_PRICE_BINS"),
        ("PRICING_FAIRNESS_THRESHOLD", "0", "PRICING_FAIRNESS_THRESHOLD"),
        ("PRICING_ENV", "staging", "PRICING_ENV"),
        ("PRICING_OBJECTIVE", "profit", "PRICING_OBJECTIVE must be 'margin' or 'revenue'"),
        ("PRICING_GUARDRAIL", "2", "PRICING_GUARDRAIL must be above 0 and below 1"),
        ("PRICING_GUARDRAIL", "1", "PRICING_GUARDRAIL must be above 0 and below 1"),
        ("PRICING_ASSUMED_COST_RATIO", "1.5", "PRICING_ASSUMED_COST_RATIO"),
        ("PRICING_GAIN_CONFIDENCE", "1", "PRICING_GAIN_CONFIDENCE must be in"),
        ("PRICING_GAIN_CONFIDENCE", "0.3", "PRICING_GAIN_CONFIDENCE must be in"),
        ("PRICING_MAX_WEEKS_WITHOUT_SALES", "-1", "PRICING_MAX_WEEKS_WITHOUT_SALES must be 0"),
    ],
)
def test_bad_values_name_the_variable_to_fix(tmp_path, variable, value, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env({"PRICING_PROJECT_DIR": str(tmp_path), variable: value})


FLOATS = [f.name for f in fields(Settings) if str(f.type) == "float"]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400"])
@pytest.mark.parametrize("name", FLOATS)
def test_every_float_setting_must_be_finite(tmp_path, name, value):
    """A comparison such as ``<= 0`` is false for nan, so nan passed it and switched a gate off for good
    (PRICING_FAIRNESS_THRESHOLD=nan could never block); no setting gives inf a meaning either. Every float
    field, a new one included, is refused with its variable and the values it allows."""
    variable = f"PRICING_{name.upper()}"
    with pytest.raises(ValueError) as raised:
        Settings.from_env({"PRICING_PROJECT_DIR": str(tmp_path), variable: value})
    message = str(raised.value)
    assert variable in message and " must be " in message, message
    assert f"{float(value)!r}" in message.split(" must be ")[1].split(", not ")[-1], message  # the value it got


SPLIT_CASES = [
    (
        {"PRICING_SPLIT_TRAIN_FRACTION": "1.5"},
        r"^PRICING_SPLIT_TRAIN_FRACTION and PRICING_SPLIT_VALIDATION_FRACTION "
        r"must be in \(0, 1\), not 1.5 and 0.15",
    ),
    ({"PRICING_SPLIT_VALIDATION_FRACTION": "0"}, r"PRICING_SPLIT_VALIDATION_FRACTION must be in \(0, 1\)"),
    (
        {"PRICING_SPLIT_TRAIN_FRACTION": "0.9", "PRICING_SPLIT_VALIDATION_FRACTION": "0.2"},
        r"^PRICING_SPLIT_TRAIN_FRACTION \+ PRICING_SPLIT_VALIDATION_FRACTION must leave rows for the test split",
    ),
    ({"PRICING_SPLIT_TRAIN_END": "2011-06-01"}, "give both PRICING_SPLIT_TRAIN_END and PRICING_SPLIT_VALIDATION_END"),
    ({"PRICING_SPLIT_VALIDATION_END": "2011-06-01"}, "give both PRICING_SPLIT_TRAIN_END and PRICING_SPLIT_VALIDATION"),
    (
        {"PRICING_SPLIT_TRAIN_END": "notadate", "PRICING_SPLIT_VALIDATION_END": "2011-07-01"},
        "^PRICING_SPLIT_TRAIN_END must be a date such as 2011-06-01, not 'notadate'",
    ),
    (
        {"PRICING_SPLIT_TRAIN_END": "2011-06-01", "PRICING_SPLIT_VALIDATION_END": "soon"},
        "^PRICING_SPLIT_VALIDATION_END must be a date",
    ),
    (
        {"PRICING_SPLIT_TRAIN_END": "2011-08-01", "PRICING_SPLIT_VALIDATION_END": "2011-07-01"},
        "^PRICING_SPLIT_TRAIN_END 2011-08-01 must be before PRICING_SPLIT_VALIDATION_END 2011-07-01",
    ),
]


@pytest.mark.parametrize("environ,message", SPLIT_CASES)
def test_split_settings_are_refused_at_load_with_the_variable(tmp_path, environ, message):
    """SplitConfig's own check, run when the settings load, in the words of the variables: before, a bad
    split failed only inside the training_splits step, with exit 1 and SplitConfig's field names (or
    pandas' "Unknown datetime string format")."""
    with pytest.raises(ValueError, match=message):
        Settings.from_env({"PRICING_PROJECT_DIR": str(tmp_path), **environ})


@pytest.mark.parametrize(
    "environ",
    [
        {"PRICING_FAIRNESS_THRESHOLD": "nan"},
        {"PRICING_DRIFT_PRICE_RATIO_LIMIT": "inf"},
        {"PRICING_SPLIT_TRAIN_FRACTION": "1.5"},
        {"PRICING_SPLIT_TRAIN_END": "notadate", "PRICING_SPLIT_VALIDATION_END": "2011-07-01"},
    ],
)
def test_pricing_run_exits_2_on_a_bad_setting_before_running(tmp_path, monkeypatch, capsys, environ):
    """README: "2 on bad input". The run must not start: a nan threshold ran and exited 0."""
    for variable, value in {"PRICING_PROJECT_DIR": str(tmp_path), **environ}.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setattr("pricing_assets.settings._CURRENT", None)

    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("the run started with a bad setting")

    monkeypatch.setattr(cli, "run_lineage", started)
    assert cli.main(["run", "--top", "1"]) == 2
    assert f"error: {next(iter(environ))}" in " ".join(capsys.readouterr().err.split())
