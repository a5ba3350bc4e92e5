"""Benchmarks publish their figures only from a full run or to a path they are given, and
their command lines answer as studies.run does: one line on stderr, exit status 2 or 1."""

from __future__ import annotations

import argparse
import json

import pytest
from services import Outcome, run_module

from benchmarks import cli, report
from studies.cli.errors import RuntimeFault


def test_a_quick_run_writes_no_report_unless_given_a_path(tmp_path, capsys):
    quick = argparse.Namespace(quick=True, report=None, json=None)
    assert report.report_path(quick) is None
    report.publish("speed", "| a table |", ["met"], [], quick)
    assert "no report written" in capsys.readouterr().out

    given = argparse.Namespace(quick=True, report=tmp_path / "bench.md", json=None)
    report.publish("speed", "| a table |", [], [], given)
    assert "| a table |" in (tmp_path / "bench.md").read_text()


def test_a_full_run_writes_the_published_report():
    full = argparse.Namespace(quick=False, report=None, json=None)
    assert report.report_path(full) == report.REPORT


def _record(strategy, seed, epochs, confirmed, noise=0.003):
    return {
        "strategy": strategy,
        "seed": seed,
        "epochs": epochs,
        "seconds": epochs / 2,
        "best_objective": confirmed + 0.002,
        "confirmed_objective": confirmed,
        "seed_noise": noise,
    }


def test_the_default_is_the_cheapest_strategy_whose_confirmed_winner_keeps_the_answer(tmp_path):
    from benchmarks import study

    records = []
    for seed, base in enumerate((0.880, 0.878, 0.882)):
        records += [
            _record("none", seed, 800, base),
            # Cheapest, but its winners are worse by more than the noise: not the default.
            _record("early discarding", seed, 200, base - 0.010 - 0.001 * seed),
            # Within the noise, and cheaper than the median pruner.
            _record("successive halving", seed, 300, base - 0.001 * (seed - 1)),
            _record("median, warm-up 2", seed, 600, base),
        ]
    result = study.summarise(records)
    assert result["seed_noise"] == pytest.approx(0.003)
    assert not result["strategies"]["early discarding"]["equal_answer"]
    assert result["default"] == "successive halving"
    halving = result["strategies"]["successive halving"]
    assert halving["epoch_fraction"]["mean"] == pytest.approx(300 / 800)
    assert halving["confirmed_difference"]["mean"] == pytest.approx(0.0)
    assert result["strategies"]["early discarding"]["confirmed_difference"]["p"] < 0.01

    readme = tmp_path / "README.md"
    start, end = "<!-- pruning table: benchmarks/study.py -->", "<!-- end of pruning table -->"
    readme.write_text(f"before\n{start}\nold table\n{end}\nafter\n")
    study.write_readme_table(result, readme)
    text = readme.read_text()
    assert "old table" not in text and text.startswith("before\n") and text.endswith("after\n")
    assert "| successive halving **default** |" in text
    assert "38% ± 0%" in text  # 300 of 800 epochs.


def test_two_seeds_are_not_enough_to_choose_a_default():
    from benchmarks import study

    records = [
        _record(s, seed, e, 0.88)
        for seed in (0, 1)
        for s, e in (("none", 800), ("successive halving", 300))
    ]
    assert study.summarise(records)["default"] is None


def test_the_report_names_every_seed_its_runs_used_and_counts_each_strategys():
    from benchmarks import study

    records = [_record("none", seed, 800, 0.88) for seed in range(5)]
    records += [_record("early discarding", seed, 400, 0.88) for seed in range(3)]
    args = argparse.Namespace(report_only=True, jobs=1, confirm_top=2, confirm_seeds=3)
    text = study.markdown(study.summarise(records), args, {"accelerator": "none"}, 0.0)
    assert "one of sampler seeds 0, 1, 2, 3, 4 " in text
    assert "| none  | `--pruner none` | 5 |" in text
    assert "| early discarding **default** | `--pruner discard` | 3 |" in text


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
    "module", ["accuracy", "speed", "startup", "study", "population_study", "precision", "floor"]
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
        (json.dumps({"records": [_record("early discarding", 0, 200, 0.88)]}), "no run of 'none'"),
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


def test_epochs_default_by_run_kind_and_refuse_fewer_than_two():
    parser = cli.parser("speed", None)
    parser.add_argument("--quick", action="store_true")
    cli.add_epochs_option(parser, quick=2, full=3)
    assert cli.epochs(parser.parse_args([])) == 3
    assert cli.epochs(parser.parse_args(["--quick"])) == 2
    assert cli.epochs(parser.parse_args(["--epochs", "7"])) == 7
    with pytest.raises(SystemExit):
        cli.check_epochs(parser, parser.parse_args(["--epochs", "1"]))
    assert report.steady([9.0, 1.0, 2.0, 3.0]) == 2.0  # The first epoch is left out.


def _study_record(how, seed, seconds, confirmed, compile_seconds=0.0):
    record = _record(how, seed, 100, confirmed) | {"seconds": seconds}
    job = {"confirm_top": 3, "confirm_seeds": 3, "report": True}
    return record | {"compile_seconds": compile_seconds, "job": job}


def test_a_population_study_pairs_wall_time_and_answer_by_seed():
    from benchmarks import population_study

    records = []
    for seed, (alone, together) in enumerate([(100.0, 60.0), (110.0, 55.0), (90.0, 63.0)]):
        records += [
            _study_record("one at a time", seed, alone, 0.880),
            _study_record("population 8", seed, together, 0.881, compile_seconds=20.0),
        ]
    records.append(_study_record("one at a time", 3, 95.0, 0.880))  # Its pair never ran.
    result = population_study.summarise(records, list(population_study.labels(8)))
    assert result["seeds"] == [0, 1, 2]
    assert result["ratio"] == "0.60 ± 0.10"  # 0.6, 0.5, 0.7 paired by seed.
    assert result["verdict"] == "population keeps the answer"
    assert result["per_seed"][1] == ["1", "110.0", "55.0"]
    args = argparse.Namespace(quick=False, report_only=True, confirm_top=2, confirm_seeds=3)
    result["job"] = population_study.job_of(records, args)  # The records', not the command's.
    text = population_study.markdown(result, args, {"accelerator": "none (CPU only)"}, 0.0)
    assert "| population 8 | 59.3 ± 4.0 | 20.0 ± 0.0 | 0.8810 ± 0.0000 |" in text
    assert "paired by seed: 0.60 ± 0.10." in text
    assert (
        "top 3 over 3 fresh seeds: wall seconds of the whole command (start-up, search, "
        "confirmation, report; one at a time" in text
    )
    records[0]["job"] = {"confirm_top": 2, "confirm_seeds": 3, "report": False}
    with pytest.raises(RuntimeFault, match="the runs in the JSON ran different jobs"):
        population_study.job_of(records, args)


def test_a_population_study_resumes_from_its_json_and_rebuilds_its_report(tmp_path, data_dir):
    runs, written = tmp_path / "runs.json", tmp_path / "bench.md"
    stored = [
        _study_record("one at a time", 0, 80.0, 0.88),
        _study_record("population 8", 0, 50.0, 0.87),
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


def _precision_record(precision, seed, seconds, objective, curve):
    return {
        "job": "quick",
        "precision": precision,
        "seed": seed,
        "seconds": seconds,
        "train_seconds": seconds / 2,
        "trained_epochs": 100,
        "confirmed_objective": objective,
        "seed_noise": 0.004,
        "winner_params": {"batch_size": 100 + seed},
        "winner_objectives": [objective - 0.002, objective, objective + 0.002],
        "curves": {"same run": curve, f"only in {precision}": [0.1]},
    }


def test_precision_pairs_each_seeds_jobs_and_compares_only_the_runs_both_trained():
    from benchmarks import precision

    records = []
    for seed, (single, half) in enumerate([(120.0, 100.0), (90.0, 90.0), (100.0, 80.0)]):
        records += [
            _precision_record("float32", seed, single, 0.850, [0.80, 0.82]),
            _precision_record("bfloat16", seed, half, 0.848, [0.81, 0.80]),
        ]
    result = precision.compare_jobs(records, "quick")
    assert result["seeds"] == [0, 1, 2]
    assert result["wall_ratio"] == "1.15 ± 0.13"  # 1.2, 1.0, 1.25 paired by seed.
    assert result["keeps"] == "keeps the answer"  # 0.002 below, within the 0.004 noise.
    assert sorted(result["accuracy_differences"]) == pytest.approx([0.01] * 3 + [0.02] * 3)
    assert result["rows"][0][5].startswith("tied within noise")
    records[1]["confirmed_objective"] = records[3]["confirmed_objective"] = 0.830
    assert precision.compare_jobs(records, "quick")["keeps"] == "changes the answer"
    assert precision.compare_jobs(records, "default") is None


def test_the_floor_counts_training_and_the_inference_passes_per_epoch():
    from benchmarks import floor

    class Trial:
        user_attrs = {"model_config": {"hidden_units": 100, "hidden_layers": 2}, "epochs": 3}

    per_image = 784 * 100 + 100 * 100 + 100 * 10
    training, inference = floor.run_flop(Trial(), train_images=1000, validation_images=500)
    assert training == 6 * 1000 * per_image * 3
    assert inference == 2 * 1500 * per_image * 3
    assert floor.multiply_adds({"hidden_units": 0}) == 7840
