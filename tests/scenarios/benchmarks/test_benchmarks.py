"""Benchmarks publish their figures only from a full run or to a path they are given, and
their command lines answer as studies.run does: one line on stderr, exit status 2 or 1."""

from __future__ import annotations

import json

import pytest
from services import Outcome, population_study_record, run_module, strategy_record

from benchmarks import report


@pytest.mark.slow
def test_the_startup_benchmark_reads_the_first_trials_start_from_the_storage(tmp_path, data_dir):
    from benchmarks import startup

    assert startup.first_trial_start(tmp_path / "absent.log") is None
    seconds = startup.one_start(tmp_path)
    assert 0 < seconds < 120  # A sanity bound on the reading, not a speed target.
    assert not list(tmp_path.glob("reports/*/summary.md"))  # Cut off before any report.


def benchmark(module: str, *arguments: str, data_dir=None, python=()) -> Outcome:
    """`python -m benchmarks.MODULE ARGUMENTS` as a real process, as a user runs it."""
    environment = {} if data_dir is None else {"KERASNN_DATA_DIR": str(data_dir)}
    return run_module(f"benchmarks.{module}", arguments, environment=environment, python=python)


def one_line(outcome: Outcome, module: str, code: int) -> str:
    """Checks the exit status and that stderr is one error line; returns its message."""
    assert outcome.code == code, outcome
    prefix = f"python -m benchmarks.{module}: error: "
    assert outcome.err.count("\n") == 1 and outcome.err.startswith(prefix), outcome
    assert "Traceback" not in outcome.out + outcome.err
    return outcome.err[len(prefix) :].strip()


@pytest.mark.parametrize(
    "module",
    ["accuracy", "speed", "startup", "study", "population_study", "precision", "floor", "scale"],
)
def test_help_answers_before_tensorflow_is_imported(module):
    outcome = benchmark(module, "--help", python=("-X", "importtime"))
    assert outcome.code == 0 and outcome.out.startswith(f"usage: python -m benchmarks.{module}")
    imported = [line.rsplit("|", 1)[-1].strip() for line in outcome.err.splitlines()]
    assert "benchmarks.cli" in imported  # -X importtime listed what was imported,
    assert not [name for name in imported if name.split(".")[0] in ("tensorflow", "keras")]


@pytest.mark.parametrize(
    ("module", "arguments", "expected"),
    [
        ("study", ["--seeds", "-1"], "argument --seeds: expected an integer >= 0, got '-1'"),
        ("study", ["--confirm-seeds", "0"], "argument --confirm-seeds: expected a positive"),
        ("study", ["--confirm-seeds", "1"], "argument --confirm-seeds: at least 2"),
        ("study", ["--confirm-top", "-1"], "argument --confirm-top: expected a positive"),
        ("study", ["--seeds", str(2**32)], "argument --seeds: expected an integer from 0 to"),
        ("study", ["--seeds", "1", "1"], "argument --seeds: a seed is given twice"),
        ("study", ["--only", "early discarding"], "argument --only: include 'none'"),
        (
            "study",
            ["--report-only", "--json", "absent.json"],
            "--report-only reads the runs from absent",
        ),
        ("study", ["--resume", "--json", "absent.json"], "--resume reads the runs from absent"),
        ("study", ["--report-only", "--quick"], "--report-only --quick needs --json PATH"),
        ("study", ["--conf", "2"], "unrecognized arguments: --conf 2"),
        ("startup", ["--runs", "0"], "argument --runs: expected a positive integer, got '0'"),
        ("startup", ["--runs", "1000"], "argument --runs: expected an integer from 1 to 100"),
        ("accuracy", ["--seed", "-1"], "argument --seed: expected an integer >= 0, got '-1'"),
        ("accuracy", ["--seed", str(2**32)], "argument --seed: expected an integer from 0 to"),
        ("speed", ["--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
        ("speed", ["--quick", "--epochs", "1"], "argument --epochs: expected an integer from 2"),
        ("speed", ["--epoch", "3"], "unrecognized arguments: --epoch 3"),
        ("population_study", ["--seeds", "2", "2"], "argument --seeds: a seed is given twice"),
        ("population_study", ["--population", "65"], "argument --population: expected a whole"),
        ("precision", ["--seeds", "1", "1"], "argument --seeds: a seed is given twice"),
        ("precision", ["--no-steps", "--no-jobs"], "--no-steps and --no-jobs without --full"),
        ("floor", ["--storage", "s.log"], "the following arguments are required: --study-name"),
    ],
)
def test_a_refused_benchmark_command_is_one_line_and_writes_nothing(
    module, arguments, expected, data_dir
):
    before = report.REPORT.stat().st_mtime_ns if report.REPORT.exists() else None
    message = one_line(benchmark(module, *arguments, data_dir=data_dir), module, code=2)
    assert message.startswith(expected) and message.endswith("(see --help)")
    assert (report.REPORT.stat().st_mtime_ns if report.REPORT.exists() else None) == before


def test_a_study_failing_in_a_worker_thread_is_one_line_with_exit_status_1(tmp_path):
    runs = tmp_path / "runs.json"
    arguments = ["--quick", "--only", "none", "--seeds", "0", "1", "--jobs", "2"]
    outcome = benchmark("study", *arguments, "--json", str(runs), data_dir=tmp_path / "nowhere")
    message = one_line(outcome, "study", code=1)
    assert message.startswith("none, seed ")
    assert message.endswith(
        f"studies.run exited with 2: python -m studies.run: error: dataset folder "
        f"{tmp_path / 'nowhere' / 'fashion-mnist'} does not exist"
    )
    assert not runs.exists()  # No run finished, so none was recorded.


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "holds no runs a benchmark wrote"),
        (
            json.dumps({"records": [strategy_record("early discarding", 0, 200, 0.88)]}),
            "no run of 'none'",
        ),
    ],
    ids=["corrupted", "no baseline"],
)
def test_report_only_from_runs_it_cannot_use_is_one_line_with_exit_status_1(
    content, expected, tmp_path, data_dir
):
    runs = tmp_path / "runs.json"
    runs.write_text(content)
    outcome = benchmark("study", "--report-only", "--json", str(runs), data_dir=data_dir)
    message = one_line(outcome, "study", code=1)
    assert message.startswith(str(runs)) and expected in message
    assert runs.read_text() == content


def test_accuracy_without_its_data_is_one_line_with_exit_status_1(tmp_path):
    output = tmp_path / "accuracy.md"
    outcome = benchmark("accuracy", "--output", str(output), data_dir=tmp_path / "nowhere")
    message = one_line(outcome, "accuracy", code=1)
    assert message == f"dataset folder {tmp_path / 'nowhere' / 'fashion-mnist'} does not exist"
    assert not output.exists()


def test_a_population_study_resumes_from_its_json_and_rebuilds_its_report(tmp_path, data_dir):
    runs, written = tmp_path / "runs.json", tmp_path / "bench.md"
    stored = [
        population_study_record("one at a time", 0, 80.0, 0.88),
        population_study_record("population 8", 0, 50.0, 0.87),
    ]
    for record in stored:  # Records from before the compile figures and the jobs were kept.
        del record["compile_seconds"], record["job"]
    runs.write_text(json.dumps({"records": stored, "machine": {"accelerator": "none"}}))
    arguments = ["--report-only", "--json", str(runs), "--report", str(written)]
    outcome = benchmark("population_study", *arguments, data_dir=data_dir)
    assert outcome.code == 0, outcome.err
    text = written.read_text()
    assert "<!-- section: population-study -->" in text and "| 0 | 80.0 | 50.0 |" in text
    assert "1 seed(s) cannot tell whether the population keeps the answer" in text
    assert "| population 8 | 50.0 (1 run) | not recorded | 0.8700 (1 run) |" in text
    # Without a job on the records, the command's options say what ran, without a report.
    assert (
        "top 3 over 3 fresh seeds: wall seconds of the whole command (start-up, search, "
        "confirmation; one at a time" in text
    )
    assert json.loads(runs.read_text())["records"] == stored  # Read, never rewritten.
    # Resuming runs that kept no job would add runs of another job: refused before any runs.
    resumed = benchmark("population_study", "--resume", "--json", str(runs), data_dir=data_dir)
    assert one_line(resumed, "population_study", code=1).startswith(
        "the runs in the JSON ran different jobs"
    )
    assert json.loads(runs.read_text())["records"] == stored
