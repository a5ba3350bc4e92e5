"""The command line and Settings: exact options only, checks, and a command line rebuilt exactly."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from studies import pipeline, run
from studies import settings as settings_module
from studies.arguments import arguments, command
from studies.engine import workers
from studies.engine.search import SearchObjective
from studies.engine.stage import Stage
from studies.errors import UsageError
from studies.settings import (
    SEED_LIMIT,
    STORAGE_VARIABLE,
    Settings,
    folder_name,
    from_arguments,
)

ERROR = "python -m studies.run: error: "


@pytest.fixture
def place(tmp_path, monkeypatch):
    """Runs each test in an empty folder, so relative reports folders land there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def recorded(monkeypatch):
    """Replaces running a study by recording the settings it would run with."""
    calls: list[Settings] = []

    def record(settings, module, dataset=None):
        calls.append(settings)
        return 0

    monkeypatch.setattr(pipeline, "run", record)
    monkeypatch.setattr(pipeline, "rebuild_report", record)
    # A reproduce group rebuilds its comparison from the storage after running.
    import studies.reproduction

    monkeypatch.setattr(studies.reproduction, "write_reproduction", lambda *_: "REPRODUCTION.md")
    return calls


def call(argv: list[str], capsys) -> tuple[int, str, str]:
    """studies.run.main in-process: its exit status, stdout and stderr."""
    try:
        code = run.main(argv)
    except SystemExit as exit:  # argparse: --help, and usage errors while parsing.
        code = exit.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def parse(words: list[str], name: str) -> Settings:
    return from_arguments(name, run.STUDIES[name], run.parser().parse_args(words))


@pytest.mark.parametrize(
    "argv",
    [
        ["--work", "2"],
        ["--work=2"],
        ["--workers", "2", "--fres"],
        ["--stor", "postgresql://u:pw@host/db"],
        ["overfitting", "--stor", "postgresql://u:pw@host/db"],
        ["overfitting", "--stor", "postgresql://u:pw@x@host/db"],
        ["--report"],
        ["--trial", "3"],
        ["--gap", "0.5"],
        ["--study", "x"],
    ],
    ids=lambda argv: argv[-1] if argv[-1].startswith("-") else argv[0],
)
def test_a_prefix_of_an_option_is_refused_not_taken_for_the_option(argv, place, recorded, capsys):
    code, out, err = call(argv, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(ERROR), err
    assert "unrecognized arguments" in err
    assert ":pw@" not in err  # The password of a refused URL is not shown either.
    assert recorded == []


def test_workers_are_started_with_the_parsed_settings_in_full_option_names(place):
    settings = parse(
        ["--dataset", "mnist", "--workers", "3", "--fresh", "--storage", "s.log"], "overfitting"
    )
    words = arguments(settings, run.STUDIES["overfitting"], workers=1, rank=2, fresh=False)
    options = [word for word in words if word.startswith("--")]
    assert set(options) <= set(run.parser()._option_string_actions)
    assert "--fresh" not in words and "--workers" not in words
    assert parse(words, "overfitting") == dataclasses.replace(
        settings, workers=1, rank=2, fresh=False
    )


def test_a_worker_gets_the_storage_url_in_its_environment_not_on_its_command_line(
    place, monkeypatch
):
    url = "postgresql://u:s3cret@host/db"
    settings = parse(["--storage", url, "--workers", "2", "--fresh"], "overfitting")
    command_line, environment = workers.worker_command(settings, run.STUDIES["overfitting"], 1)
    assert not any("s3cret" in word for word in command_line)
    assert environment[STORAGE_VARIABLE] == url
    monkeypatch.setenv(STORAGE_VARIABLE, url)  # As the worker process sees it.
    assert parse(command_line[3:], "overfitting") == dataclasses.replace(
        settings, workers=1, stage_processes=1, rank=1, fresh=False, no_report=True
    )


def test_the_stored_command_hides_the_storage_password(place):
    settings = parse(["--storage", "postgresql://u:s3cret@host/db"], "overfitting")
    line = command(settings, run.STUDIES["overfitting"])
    assert "s3cret" not in line and "postgresql://u:***@host/db" in line


@pytest.mark.parametrize(
    ("seed", "rank"),
    [(SEED_LIMIT - 5, 10), (-1, 0), (-1, 1), (SEED_LIMIT, -10), (0, -1), (SEED_LIMIT - 1, 0)],
)
def test_a_seed_that_samplers_or_keras_cannot_take_is_refused(seed, rank, place):
    with pytest.raises(UsageError, match=r"--seed"):
        parse(["--seed", str(seed), "--rank", str(rank)], "overfitting")


def test_the_highest_seed_that_every_trial_can_use_is_accepted(place):
    # The confirmation stage trains with the seeds after the study's own.
    highest = SEED_LIMIT - 1 - Settings().confirm_seeds
    assert parse(["--seed", str(highest)], "overfitting").seed == highest


@pytest.mark.parametrize("reports", ["", "  "])
def test_an_empty_reports_folder_is_refused(reports, place, recorded, capsys):
    code, _, err = call(["--reports", reports], capsys)
    assert code == 2 and err.count("\n") == 1 and "--reports must name a folder" in err


@pytest.mark.parametrize(
    "name",
    ["../x", "../../etc", "/etc/passwd", "/", ".", "..", "a/../../b", "~/x", "-x", "x" * 4000]
    + ["Ünïcode/名前", "a\nb", "..\\..\\x", ""],
)
def test_a_study_name_always_maps_to_one_folder_inside_the_reports_folder(name, place):
    folder = Settings(study_name=name, reports="reports").folder
    assert folder.parent == Path("reports")
    assert folder.name not in ("", ".", "..") and not folder.name.startswith(("-", "."))
    assert len(folder.name.encode()) <= 255
    assert (place / folder).resolve().is_relative_to((place / "reports").resolve())
    assert folder_name(name) == folder.name


def test_long_study_names_that_share_a_start_get_different_folders():
    assert folder_name("a" * 300 + "1") != folder_name("a" * 300 + "2")


def test_a_gap_weight_survives_the_rebuilt_command_line_exactly(place):
    settings = parse(["--gap-weight", "0.123456789", "--timeout", "1234.56789"], "overfitting")
    words = arguments(settings, run.STUDIES["overfitting"])
    assert parse(words, "overfitting") == settings


def test_a_study_name_that_looks_like_an_option_survives_the_rebuilt_command_line(place):
    settings = parse(["--study-name=--fresh", "--storage=-s.log"], "overfitting")
    assert settings.study_name == "--fresh" and not settings.fresh
    assert parse(arguments(settings, run.STUDIES["overfitting"]), "overfitting") == settings


@pytest.fixture
def bfloat16_cpu(monkeypatch):
    """A CPU with native bfloat16 on which the benchmark found that it pays."""
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setattr(settings_module, "BFLOAT16_PAYS", True)
    monkeypatch.setattr(settings_module, "native_bfloat16", lambda: True)


def test_auto_precision_is_bfloat16_where_it_pays_but_float32_for_the_reproduce_studies(
    place, bfloat16_cpu
):
    search = parse([], "overfitting")
    assert search.precision == "bfloat16"
    assert SearchObjective(
        Stage(None, None, search, run.STUDIES["overfitting"], None, None)
    ).base.precision == ("bfloat16")
    assert parse(["--precision", "float32"], "overfitting").precision == "float32"
    for name in run.GROUPS["reproduce"]:
        assert parse([], name).precision == "float32"
        assert parse(["--precision", "auto"], name).precision == "float32"


def test_auto_precision_is_float32_without_native_bfloat16_or_for_a_population(
    place, bfloat16_cpu, monkeypatch
):
    from studies import machine

    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setattr(machine, "backend", lambda: "jax")
    assert parse(["--population", "2"], "overfitting").precision == "float32"
    monkeypatch.setattr(settings_module, "native_bfloat16", lambda: False)
    assert parse([], "overfitting").precision == "float32"


def test_bfloat16_forced_on_a_cpu_that_emulates_it_warns_in_one_line_naming_the_cost(
    place, recorded, capsys, monkeypatch
):
    monkeypatch.setattr(settings_module, "native_bfloat16", lambda: False)
    code, _, err = call(["--precision", "bfloat16"], capsys)
    assert code == 0 and recorded[0].precision == "bfloat16"
    assert err.count("\n") == 1 and err.startswith("warning: --precision bfloat16")
    assert "slower than float32" in err


# The property test: random command lines, hostile ones included.

GOOD_VALUES = {
    "--dataset": ["mnist", "fashion_mnist"],
    "--trials": ["1", "3", "40", "1_000"],
    "--timeout": ["0.5", "1234.56789", "1e-3", "60"],
    "--epochs": ["1", "2", "30"],
    "--seed": ["0", "7", "-1", str(SEED_LIMIT - 4), str(SEED_LIMIT), "12345678901234567890"],
    "--subset": ["500", "1000", "60000"],
    "--sampler": ["tpe", "random", "qmc", "grid", "nsga2"],
    "--pruner": ["median", "percentile", "hyperband", "none"],
    "--objective": ["penalized", "pareto"],
    "--gap-weight": ["0", "0.5", "0.123456789", "2", "1e-7"],
    "--penalty": ["0.25", "0.3333333333"],
    "--confirm-top": ["0", "1", "3"],
    "--confirm-seeds": ["1", "3"],
    "--storage": ["s.log", "sqlite:///s.db", "postgresql://u:pw@host/db", "-s.log", ""],
    "--study-name": ["x", "../x", "/abs/x", "-x", "--fresh", "a b", "a\nb", ""],
    "--max-failures": ["1", "5"],
    "--reports": ["r", "out/r", "-r", ""],
    "--workers": ["1", "2", "6"],
    "--stage-processes": ["1", "2", "16"],
    "--rank": ["0", "1", "-2", "5"],
    "--heartbeat": ["1", "30", "3600"],
    "--precision": ["auto", "float32", "bfloat16"],
}
BAD_VALUES = ["0", "-3", "2.5", "many", "nan", "inf", "1e400", "", "\n", "99999999999999999999"]
FLAGS = ["--fresh", "--report-only", "--no-report"]
JUNK = ["overfitting", "reproduce-001", "reproduce", "nope", "-", "--", "-5", "x\ny", "--nope"]
JUNK += ["-x", "--trials=", "postgresql://u:pw@x@h/db"]


def random_argv(rng: random.Random) -> list[str]:
    """A command line of real options, good and bad values, prefixes, repeats and junk."""
    argv: list[str] = []
    for _ in range(rng.randint(0, 7)):
        option = rng.choice(sorted(GOOD_VALUES))
        roll = rng.random()
        if roll < 0.45:
            value = rng.choice(GOOD_VALUES[option])
            argv += [f"{option}={value}"] if rng.random() < 0.2 else [option, value]
        elif roll < 0.55:
            argv += [option, rng.choice(BAD_VALUES)]
        elif roll < 0.65:
            argv += [option[: rng.randint(3, len(option) - 1)], rng.choice(GOOD_VALUES[option])]
        elif roll < 0.75:
            argv.append(rng.choice(FLAGS))
        elif roll < 0.85 and argv:
            argv += argv[-2:]  # The last option again.
        elif roll < 0.9:
            argv.append(option)  # An option without its value.
        else:
            argv.insert(rng.randint(0, len(argv)), rng.choice(JUNK))
    return argv


def asked_workers(argv: list[str]) -> int:
    """The largest worker count any spelling in `argv` could have asked for."""
    counts = [1]
    for index, word in enumerate(argv):
        value = word.partition("=")[2] if word.startswith("--workers=") else None
        if word == "--workers" and index + 1 < len(argv):
            value = argv[index + 1]
        if value is not None and value.isdigit():
            counts.append(int(value))
    return max(counts)


def check_round_trip(settings: Settings) -> None:
    """The rebuilt argument lists, the workers' ones too, parse back to the same settings."""
    module = run.STUDIES[settings.study]
    assert parse(arguments(settings, module), settings.study) == settings
    worker = dataclasses.replace(
        settings, workers=1, rank=settings.rank + 1, fresh=False, report_only=False, no_report=True
    )
    words = arguments(
        settings,
        module,
        **{
            key: getattr(worker, key)
            for key in ("workers", "rank", "fresh", "report_only", "no_report")
        },
    )
    assert parse(words, settings.study) == worker


def test_random_command_lines_give_one_error_line_or_settings_that_rebuild_exactly(
    place, recorded, capsys
):
    rng = random.Random(20240611)
    outcomes = {0: 0, 2: 0}
    for _ in range(400):
        argv = random_argv(rng)
        recorded.clear()
        code, out, err = call(argv, capsys)
        said = f"argv={argv!r}\nstdout={out[-300:]!r}\nstderr={err!r}"
        assert code in (0, 2), said
        outcomes[code] += 1
        assert "Traceback" not in out + err, said
        if code == 2:
            assert err.count("\n") == 1 and err.startswith(ERROR), said
            assert ":pw@" not in err, said
            continue
        assert all(line.startswith("warning: ") for line in err.splitlines()), said
        for settings in recorded:
            assert settings.workers <= asked_workers(argv), said
            check_round_trip(settings)
    # The generator exercises both outcomes, not only refusals.
    assert min(outcomes.values()) > 50, outcomes
