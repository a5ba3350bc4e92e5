"""Benchmarks publish their figures only from a full run or to a path they are given, and
their command lines answer as studies.run does: one line on stderr, exit status 2 or 1."""

from __future__ import annotations

import argparse

import pytest
from services import population_study_record, strategy_record

from benchmarks import cli, report
from studies.errors import RuntimeFault


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


def test_the_default_is_the_cheapest_strategy_whose_confirmed_winner_keeps_the_answer(tmp_path):
    from benchmarks import study

    records = []
    for seed, base in enumerate((0.880, 0.878, 0.882)):
        records += [
            strategy_record("none", seed, 800, base),
            # Cheapest, but its winners are worse by more than the noise: not the default.
            strategy_record("early discarding", seed, 200, base - 0.010 - 0.001 * seed),
            # Within the noise, and cheaper than the median pruner.
            strategy_record("successive halving", seed, 300, base - 0.001 * (seed - 1)),
            strategy_record("median, warm-up 2", seed, 600, base),
        ]
    result = study.summarise(records)
    assert result["seed_noise"] == pytest.approx(0.003)
    assert not result["strategies"]["early discarding"]["equal_answer"]
    assert result["default"] == "successive halving"
    halving = result["strategies"]["successive halving"]
    assert halving["epoch_fraction"]["mean"] == pytest.approx(300 / 800)
    assert halving["confirmed_difference"]["mean"] == pytest.approx(0.0)
    assert result["strategies"]["early discarding"]["confirmed_difference"]["p"] < 0.01

    page = tmp_path / "pruning.md"
    start, end = "<!-- pruning table: benchmarks/study.py -->", "<!-- end of pruning table -->"
    page.write_text(f"before\n{start}\nold table\n{end}\nafter\n")
    study.write_doc_table(result, page)
    text = page.read_text()
    assert "old table" not in text and text.startswith("before\n") and text.endswith("after\n")
    assert "| successive halving **default** |" in text
    assert "38% ± 0%" in text  # 300 of 800 epochs.
    # The published page holds the markers, so a full run replaces its table.
    published = study.PRUNING_DOC.read_text()
    assert published.index(start) < published.index(end)


def test_two_seeds_are_not_enough_to_choose_a_default():
    from benchmarks import study

    records = [
        strategy_record(s, seed, e, 0.88)
        for seed in (0, 1)
        for s, e in (("none", 800), ("successive halving", 300))
    ]
    assert study.summarise(records)["default"] is None


def test_the_report_names_every_seed_its_runs_used_and_counts_each_strategys():
    from benchmarks import study

    records = [strategy_record("none", seed, 800, 0.88) for seed in range(5)]
    records += [strategy_record("early discarding", seed, 400, 0.88) for seed in range(3)]
    args = argparse.Namespace(report_only=True, jobs=1, confirm_top=2, confirm_seeds=3)
    text = study.markdown(study.summarise(records), args, {"accelerator": "none"}, 0.0)
    assert "one of sampler seeds 0, 1, 2, 3, 4 " in text
    assert "| none  | `--pruner none` | 5 |" in text
    assert "| early discarding **default** | `--pruner discard` | 3 |" in text


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


def test_a_population_study_pairs_wall_time_and_answer_by_seed():
    from benchmarks import population_study

    records = []
    for seed, (alone, together) in enumerate([(100.0, 60.0), (110.0, 55.0), (90.0, 63.0)]):
        records += [
            population_study_record("one at a time", seed, alone, 0.880),
            population_study_record("population 8", seed, together, 0.881, compile_seconds=20.0),
        ]
    records.append(population_study_record("one at a time", 3, 95.0, 0.880))  # Its pair never ran.
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
    from benchmarks import precision_report as precision

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


def test_the_floor_counts_a_first_epoch_beyond_the_later_ones_as_compiling():
    from benchmarks import floor

    class Trial:
        def __init__(self, seconds):
            self.user_attrs = {"history": {"seconds": seconds}}

    assert floor.first_epoch_extra(Trial([3.0, 1.0, 1.2, 0.8])) == 2.0
    assert floor.first_epoch_extra(Trial([3.0, 1.0])) == 0.0
    assert floor.first_epoch_extra(Trial([0.5, 1.0, 1.0])) == 0.0


def test_the_floor_splits_the_runs_seconds_by_batch_range():
    from benchmarks import floor

    job = floor.JobArithmetic(1e12, 0.0, 10.0, 8.0, 20, 3, "float32", "python -m studies.run")
    job.by_batch = {bounds: [0, 0, 0.0, 0.0] for bounds in floor.BATCH_RANGES}
    job.by_batch[0, 256] = [2, 15, 6.0, 6e11]
    job.by_batch[1000, float("inf")] = [1, 5, 2.0, 4e11]
    rows = floor.batch_rows(job)
    assert [row[0] for row in rows] == ["0-255", "256-511", "512-999", "1000 and up"]
    assert rows[0] == ["0-255", "2", "15", "6.0", "75%", "100"]
    assert rows[1][4:] == ["0%", "-"] and rows[3][4:] == ["25%", "200"]


def test_the_programs_benchmark_judges_the_target_and_the_warm_cache():
    from benchmarks import programs

    def record(compiled, loaded):
        return {"programs_compiled": compiled, "programs_loaded": loaded}

    args = argparse.Namespace(quick=False, population=8, seed=0)
    lines = programs.verdicts([record(8, 0), record(4, 0), record(0, 4)], args)
    assert lines == [
        "fixed shapes: 4 programs compiled against 8 without them",
        "at most 6 programs for the default job: met",
        "warm cache: 0 compiled, 4 loaded",
    ]
    assert "missed" in programs.verdicts([record(8, 0), record(7, 0), record(0, 7)], args)[1]
