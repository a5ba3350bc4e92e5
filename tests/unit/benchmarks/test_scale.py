"""The scale benchmark's checks: the no-loss rule read against the stand-in's records, the
growth of a step, the plan a command line asks for, and the sentences the section writes."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from benchmarks import sampler_cost, scale, scale_plan, scale_report


def grown_study(tmp_path) -> str:
    """A search of three trials as a study of the benchmark stores it: two COMPLETE, one
    PRUNED; returns its storage URL."""
    url = f"sqlite:///{tmp_path}/s.db"
    study = optuna.create_study(study_name=scale.STUDY_NAME, storage=url)
    for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE):
        trial = study.ask()
        study.tell(trial, 0.5 if state == TrialState.COMPLETE else None, state=state)
    return url


def record(number: int, outcome: str) -> dict:
    return {"study": scale.STUDY_NAME, "number": number, "outcome": outcome}


def test_a_study_whose_every_run_was_trained_once_passes_the_no_loss_rule(tmp_path):
    url = grown_study(tmp_path)
    trained = [record(0, "complete"), record(1, "pruned"), record(2, "complete")]
    assert scale.no_loss(url, trained, 3) == []


def test_a_run_trained_twice_or_never_or_lost_breaks_the_no_loss_rule(tmp_path):
    url = grown_study(tmp_path)
    trained = [record(0, "complete"), record(0, "complete"), record(1, "complete")]
    trained.append(record(7, "complete"))
    problems = scale.no_loss(url, trained, 4)
    assert f"{scale.STUDY_NAME} trial 0 was trained twice" in problems
    assert any("trial 1 is stored PRUNED but was complete trained" in p for p in problems)
    assert any("trial 2 is stored COMPLETE but was never trained" in p for p in problems)
    assert f"{scale.STUDY_NAME} trial 7 was trained but is not stored" in problems
    assert "3 search trials finished, not 4" in problems


def test_a_step_whose_cost_per_trial_grows_with_the_study_is_called_linear():
    segments = [
        {"from": start, "size": end, "cpu_per_trial": 1.0, "steps": {"scan": (0, end / 1e4)}}
        for start, end in [(0, 1000), (1000, 3000), (3000, 10000)]
    ]
    found = scale_report.growth(segments, "scan")
    assert 0.8 < found.exponent < 1.2 and found.word == "linear"
    assert scale_report.per_trial(found) == "linear per trial (+151.3 ms per 1,000 trials)"
    assert scale_report.growth(segments, None).word == "constant"
    # A constant plus a part that grows: linear once that part outweighs the constant,
    # though a power law fitted to it has an exponent well below 1.
    affine = [(size, 0.015 + 4.6e-6 * size) for size in (125, 875, 2875, 9875)]
    found = scale_report.fit(affine)
    assert found.exponent < 0.5 and found.word == "linear"
    assert scale_report.fit([(size, 0.015 + 1e-7 * size) for size in (125, 9875)]).word == (
        "constant"
    )
    assert scale_report.fit([(size, size**2) for size in (10, 100, 1000)]).word == "quadratic"


def plan(*argv: str) -> list[scale_plan.Case]:
    return scale_plan.plan(scale.parser().parse_args(list(argv)))


def test_the_full_plan_is_the_target_study_and_a_worker_sweep_on_every_storage():
    cases = plan()
    [target] = [case for case in cases if case.part == "target"]
    assert (target.storage, target.workers, target.sizes) == ("postgresql", 16, (1000, 3000, 10000))
    sweep = {(case.storage, case.workers) for case in cases if case.part == "worker sweep"}
    assert sweep == {
        *((storage, workers) for storage in ("sqlite", "journal") for workers in (4, 16, 32)),
        *(("postgresql", workers) for workers in (1, 4, 16, 32)),
    }
    assert len(cases) == 1 + len(sweep)
    assert all(case.sizes == (200,) for case in cases if case.part == "worker sweep")
    assert {case.sampler for case in cases} == {"random"}


def test_quick_is_one_segment_of_100_trials_on_sqlite_and_journal_with_tpe():
    cases = plan("--quick", "--seconds", "0.2")
    assert [(case.storage, case.workers, case.sizes) for case in cases] == [
        ("sqlite", 4, (100,)),
        ("journal", 4, (100,)),
    ]
    assert {(case.seconds, case.sampler, case.part) for case in cases} == {(0.2, "tpe", "quick")}


def test_any_option_given_makes_a_cross_product_filled_from_the_target_case():
    cases = plan("--workers", "2", "8", "--sizes", "3000", "30", "30", "--storages", "journal")
    assert [(case.storage, case.workers) for case in cases] == [("journal", 2), ("journal", 8)]
    assert {(case.sizes, case.seconds, case.sampler) for case in cases} == {
        ((30, 3000), scale_plan.TARGET.seconds, scale_plan.TARGET.sampler)
    }
    [alone] = plan("--sampler", "tpe")
    assert (alone.storage, alone.workers, alone.sampler, alone.part) == (
        "postgresql",
        scale_plan.TARGET.workers,
        "tpe",
        "custom",
    )


def test_the_sampling_sentence_says_from_which_size_tpe_outlasts_a_run_and_the_cores():
    rows = [
        {"size": 1000, "tpe": 100.0, "random": 0.3, "qmc": 0.6},
        {"size": 10000, "tpe": 1500.0, "random": 0.3, "qmc": 0.7},
    ]
    text = sampler_cost.verdict(rows, seconds=1.0, workers=32, cores=2)
    assert "outlasts a 1 s run from 10,000 finished trials on" in text
    assert "more CPU than the 2 cores have from 1,000 trials on" in text
    assert "at 10,000 trials it takes 1500.0 ms a trial, random 0.3 ms and qmc 0.7 ms" in text
    calm = sampler_cost.verdict(rows[:1], seconds=1.0, workers=1, cores=2)
    assert "stays shorter than a 1 s run at every size measured (up to 1,000 trials)" in calm
    assert "within the 2 cores at every size measured" in calm


def test_the_section_names_each_parts_sampler_and_a_dashboard_that_failed():
    cases = [
        {"sampler": "random", "part": "target"},
        {"sampler": "random", "part": "worker sweep"},
        {"sampler": "tpe", "part": "custom"},
    ]
    text = scale_report.samplers_used(cases)
    assert "`--sampler random` in the target and worker sweep cases: random sampling" in text
    assert "`--sampler tpe` in the custom case: TPE, the sampler a study runs" in text
    assert (
        scale_report.dashboard_cells({"error": "RuntimeError: gone"}) == ["RuntimeError: gone"] * 3
    )
    measured = {
        "json_seconds": 0.5,
        "json_again_seconds": 0.25,
        "importances_seconds": "refused (400)",
        "study_page_seconds": 3.0,
        "list_page_seconds": 2.0,
        "page_names_study": False,
    }
    assert scale_report.dashboard_cells(measured) == [
        "0.50 (0.25)",
        "refused (400)",
        "3.0 (2.0), the page does not name the study",
    ]


def test_optunas_sampling_cost_is_measured_for_every_sampler_at_each_size():
    rows = sampler_cost.measure([30, 10], asks=2)
    assert [row["size"] for row in rows] == [10, 30]
    for row in rows:
        assert all(row[name] > 0 for name in sampler_cost.SAMPLERS)
    assert "| 30 |" in "\n".join(sampler_cost.table(rows))


def test_copies_bring_the_study_to_its_size_and_the_no_loss_rule_knows_nobody_trained_them(
    tmp_path,
):
    url = grown_study(tmp_path)
    assert scale.fill(url, 10) == 10
    study = optuna.load_study(study_name=scale.STUDY_NAME, storage=url)
    copies = [t for t in study.trials if t.user_attrs.get(scale.INSERTED)]
    assert len(study.trials) == 10 and len(copies) == 7
    assert {t.state for t in copies} == {TrialState.COMPLETE, TrialState.PRUNED}
    trained = [record(0, "complete"), record(1, "pruned"), record(2, "complete")]
    assert scale.no_loss(url, trained, 10) == []
    assert scale.fill(url, 5) == 10  # Never fewer: nothing is removed.


def test_a_published_command_leaves_out_where_its_output_went(monkeypatch):
    from benchmarks import report

    argv = ["benchmarks/scale.py", "--quick", "--json", "/x/rows.json", "--report=/x/b.md"]
    monkeypatch.setattr("sys.argv", argv)
    assert report.command_line() == "python -m benchmarks.scale --quick"


def test_a_full_run_stopped_after_its_target_case_names_the_cases_it_did_not_measure():
    target = {"storage": "postgresql", "workers": scale_plan.TARGET.workers, "part": "target"}
    lines = scale_report.unmeasured([target])
    assert scale_report.command_of([target]) == "python -m benchmarks.scale"
    assert lines[0].startswith(
        f"The run was stopped after 1 of the plan's {len(scale_plan.full_plan())} cases"
    )
    assert "sqlite with 4" in lines[0]
    assert scale_report.unmeasured([{"storage": "sqlite", "workers": 2, "part": "custom"}]) == []


def test_a_failed_command_brings_its_last_lines_and_a_good_one_none(tmp_path):
    import sys

    good = scale.timed([sys.executable, "-c", "print('fine')"], {}, tmp_path / "good.log")
    script = "import sys; print('one'); print(); print('why'); sys.exit(3)"
    bad = scale.timed([sys.executable, "-c", script], {}, tmp_path / "bad.log")
    assert (good["status"], good["last_lines"]) == (0, [])
    assert (bad["status"], bad["last_lines"]) == (3, ["one", "why"])


def test_the_targets_are_judged_on_the_target_case_from_its_figures():
    sizes = [(0, 250), (750, 1000), (9750, 10000)]

    def segment(start, end, scan):
        steps = {"artifacts": (0, 0.02), "scan": (0, scan(end)), "ask": (0, end / 1e3)}
        own = sum(cpu for step, (_, cpu) in steps.items() if step != "ask")
        return {"from": start, "size": end, "own_cpu_per_trial": own, "steps": steps}

    def case(scan, report_seconds, problems=()):
        return {
            "part": "target",
            "storage": "postgresql",
            "workers": 32,
            "seconds": 1.0,
            "segments": [segment(start, end, scan) for start, end in sizes],
            "report_only": {"wall": report_seconds, "peak_mb": 900.0},
            "problems": list(problems),
        }

    good = "\n".join(scale_report.targets([case(lambda n: 0.01, 30.0)]))
    assert "30.0 ms CPU a trial, 3.0%: **met**" in good
    assert "faster than linearly (its cost per trial, fitted over the sizes): **met**" in good
    assert "30.0 s, 900 MB: **met**" in good
    assert "wrongly retried trial, in any case: **met**" in good
    # Optuna's ask grows too, but only kerasnn's own steps are judged.
    bad = "\n".join(scale_report.targets([case(lambda n: n**2 / 1e9, 75.0, ["lost"])]))
    assert "**not met**: scan (+" in bad
    assert "120.0 ms CPU a trial, 12.0%: **not met**" in bad
    assert "75.0 s, 900 MB: **not met**" in bad
    assert "wrongly retried trial, in any case: **not met**" in bad
    assert scale_report.targets([{**case(lambda n: 0.01, 1.0), "part": "quick"}]) == []


def test_a_case_measured_again_by_a_later_run_replaces_the_earlier_one_in_its_place():
    def case(storage, workers, part, problems):
        shape = {"sizes": [200], "seconds": 1.0, "sampler": "random"}
        return {"storage": storage, "workers": workers, "part": part, "problems": problems} | shape

    first = {"command": "python -m benchmarks.scale", "sampling": {"first": 1}}
    first["cases"] = [
        case("sqlite", 4, "worker sweep", ["trained twice"]),
        case("journal", 4, "worker sweep", []),
    ]
    again = {"command": "python -m benchmarks.scale --storages sqlite", "sampling": {}}
    again["cases"] = [case("sqlite", 4, "custom", [])]
    combined = scale_report.combine([first, again])
    assert [(c["storage"], c["part"], c["problems"]) for c in combined["cases"]] == [
        ("sqlite", "worker sweep", []),
        ("journal", "worker sweep", []),
    ]
    assert combined["sampling"] == {"first": 1}
    line = scale_report.commands_line(combined["command"])
    assert line.startswith("Commands: `python -m benchmarks.scale`, then `python -m benchmarks")
    assert scale_report.combine([first]) == first


def test_each_file_storage_is_fresh_in_its_cases_folder(tmp_path):
    with scale.Storages() as storages:
        assert storages.fresh("sqlite", tmp_path) == (
            f"sqlite:///{tmp_path}/s.db",
            tmp_path / "s.db",
        )
        assert storages.fresh("journal", tmp_path) == (str(tmp_path / "s.log"), tmp_path / "s.log")
        assert storages.server is None  # No server is started for a file.
