"""A report is written whole or not at all: staged beside its folder, renamed into place."""

from __future__ import annotations

import pytest

from studies.report.write import staged


def earlier_report(folder):
    folder.mkdir()
    (folder / "summary.md").write_text("earlier")
    (folder / "winner.keras").write_text("earlier winner")
    (folder / "workers").mkdir()
    (folder / "workers" / "worker-1.log").write_text("log")


def test_a_written_report_replaces_the_earlier_one_and_keeps_the_worker_logs(tmp_path):
    folder = tmp_path / "study"
    earlier_report(folder)
    with staged(folder) as writing:
        assert writing != folder and writing.parent == folder.parent
        (writing / "summary.md").write_text("new")
    assert (folder / "summary.md").read_text() == "new"
    assert not (folder / "winner.keras").exists()  # The earlier winner was another run's.
    assert (folder / "workers" / "worker-1.log").read_text() == "log"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study"]


@pytest.mark.parametrize("stop", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_report_that_fails_or_is_stopped_leaves_the_earlier_one_as_it_was(tmp_path, stop):
    folder = tmp_path / "study"
    earlier_report(folder)
    with pytest.raises(type(stop)), staged(folder) as writing:
        (writing / "trials.csv").write_text("half")
        raise stop
    assert (folder / "summary.md").read_text() == "earlier"
    assert (folder / "winner.keras").read_text() == "earlier winner"
    assert not (folder / "trials.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study"]


def test_a_first_report_appears_only_once_written(tmp_path):
    folder = tmp_path / "reports" / "study"
    with pytest.raises(OSError), staged(folder) as writing:
        (writing / "trials.csv").write_text("half")
        raise OSError("disk full")
    assert not folder.exists()
    with staged(folder) as writing:
        (writing / "summary.md").write_text("whole")
    assert (folder / "summary.md").read_text() == "whole"


def test_a_study_name_with_a_line_break_and_a_fence_cannot_add_headings_or_close_blocks():
    import types

    from studies.report import summary

    name = "x\n# Forged heading\n```\n## Forged too"
    study = types.SimpleNamespace(
        study_name=name,
        user_attrs={"command": f"python -m studies.run --study-name '{name}'"},
        get_trials=lambda deepcopy=True: [],
    )
    lines = "\n".join(summary.header(study) + summary.reproduce_lines(study)).splitlines()
    # Fenced by four backticks, longer than the name's three, which stay inside as code.
    fences = [i for i, line in enumerate(lines) if line == "````"]
    assert len(fences) == 2 and "```" in lines[fences[0] + 1 : fences[1]]
    outside = lines[: fences[0]] + lines[fences[1] + 1 :]
    headings = [line for line in outside if line.startswith("#")]
    assert headings == [r"# Study x\n# Forged heading\n```\n## Forged too", "## Reproduce"]
