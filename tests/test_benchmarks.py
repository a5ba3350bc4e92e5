"""Benchmarks publish their figures only from a full run or to a path they are given."""

from __future__ import annotations

import argparse

import pytest

from benchmarks import report


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


def test_epochs_default_by_run_kind_and_refuse_fewer_than_two():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    report.add_epochs_option(parser, quick=2, full=3)
    assert report.epochs(parser.parse_args([]), parser) == 3
    assert report.epochs(parser.parse_args(["--quick"]), parser) == 2
    assert report.epochs(parser.parse_args(["--epochs", "7"]), parser) == 7
    with pytest.raises(SystemExit):
        report.epochs(parser.parse_args(["--epochs", "1"]), parser)
    assert report.steady([9.0, 1.0, 2.0, 3.0]) == 2.0  # The first epoch is left out.
