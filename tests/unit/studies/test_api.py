"""A study in Python: run_study's refusals and faults (the run stood in for); the result's
short reprs, the answer displayed as summary.md opens, the report's figures as matplotlib
Figures drawn from the stored runs, and matplotlib left as the user had it."""

from __future__ import annotations

import matplotlib
import optuna
import pytest
from matplotlib.figure import Figure

from studies import api, open_study, run
from studies.errors import RuntimeFault, UsageError
from studies.report.closing import closing_lines
from studies.report.gallery import FIGURES

DROPOUT = {"dropout_rate": optuna.distributions.FloatDistribution(0.0, 0.5)}
HISTORY = {
    "train_loss": [0.9, 0.5],
    "val_loss": [1.0, 0.6],
    "train_accuracy": [0.7, 0.86],
    "val_accuracy": [0.69, 0.84],
}


def measured(objective: float, **extra) -> dict:
    return {
        "objective": objective,
        "val_accuracy": objective + 0.01,
        "train_accuracy": objective + 0.02,
        "gap": 0.01,
        "epochs": 2,
        "history": HISTORY,
        "model_config": {"hidden_units": 16},
        **extra,
    }


def stored_study(tmp_path) -> dict:
    """A search of three trials and a confirmation of two of them over seeds 1 and 2, as a
    run stores them; the options that open it."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    search = optuna.create_study(study_name="crafted", storage=url, direction="maximize")
    for number, objective in enumerate([0.84, 0.83, 0.70]):
        search.add_trial(
            optuna.trial.create_trial(
                value=objective,
                params={"dropout_rate": 0.1 * (number + 1)},
                distributions=DROPOUT,
                user_attrs=measured(objective),
            )
        )
    confirmation = optuna.create_study(study_name="crafted-confirm", storage=url)
    for source, seed, objective in [(0, 1, 0.845), (0, 2, 0.851), (1, 1, 0.842), (1, 2, 0.849)]:
        confirmation.add_trial(
            optuna.trial.create_trial(
                value=objective,
                params={"dropout_rate": 0.1 * (source + 1)},
                distributions=DROPOUT,
                user_attrs=measured(objective, source_trial=source, seed=seed),
            )
        )
    confirmation.set_user_attr(
        "winner_test", {"source_trial": 0, "seeds": [1, 2], "test_accuracy": [0.84, 0.85]}
    )
    return {"storage": url, "study_name": "crafted", "reports": str(tmp_path / "reports")}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return open_study(**stored_study(tmp_path_factory.mktemp("stored")))


def test_an_answer_reprs_in_one_short_line_without_numpy_types(result):
    shown = repr(result.answer)
    assert "\n" not in shown and len(shown) < 120 and "np.float64" not in shown
    assert shown.startswith("<StudyAnswer: trial 0, objective 0.8480 ± 0.0042")
    assert "tied: 1" in shown
    assert "np.float64" not in repr(result.answer.objective)  # A Spread of plain floats.
    assert "\n" not in repr(result) and "answer trial 0" in repr(result)


def test_the_answer_displays_as_summary_md_opens_with_the_table_of_configurations(result):
    shown = result.answer._repr_markdown_()
    assert shown.startswith("## Answer: trial 0's configuration\n\nConfirmed over 2 fresh seeds")
    assert "- tied with it within seed noise: trial 1" in shown
    assert "| configuration | runs | objective |" in shown and "| trial 1 | 2 |" in shown
    assert "Answer: trial 0's configuration" in result._repr_markdown_()
    # Printed, it is the same text without markdown's marks.
    assert str(result.answer).startswith("Answer: trial 0's configuration\n")
    assert "`" not in str(result.answer) and "dropout_rate=0.1" in str(result.answer)


def test_a_run_ends_with_the_answer_then_where_the_summary_and_model_are(result, tmp_path):
    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "winner.keras").write_bytes(b"")
    lines = closing_lines(result.answer._answer, folder)
    assert lines[0] == "Answer: trial 0's configuration"
    assert "- objective 0.8480 ± 0.0042 (95% interval" in "\n".join(lines)
    assert "- test accuracy 0.8450 ± 0.0071 over the winner's 2 runs" in "\n".join(lines)
    assert lines[-2:] == [
        f"summary: {folder / 'summary.md'}",
        f"model:   {folder / 'winner.keras'}",
    ]


def test_the_report_folder_is_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    opened = open_study(**{**stored_study(tmp_path), "reports": "reports"})
    assert opened.report_dir.is_absolute()
    assert opened.report_dir == tmp_path / "reports" / "crafted"


@pytest.mark.parametrize("name", ["history", "curves", "weights", "findings", "importances"])
def test_the_reports_figures_are_drawn_afresh_as_matplotlib_figures(result, name):
    figure = result.figure(name)
    assert isinstance(figure, Figure) and figure.axes
    assert not (result.report_dir / f"{name}.png").exists()  # Drawn, not read from a file.


def test_an_unknown_figure_is_a_value_error_that_lists_the_names(result):
    with pytest.raises(ValueError, match="no figure 'efects'") as raised:
        result.figure("efects")
    assert all(name in str(raised.value) for name in FIGURES)


def test_a_figure_the_study_has_no_runs_for_is_a_value_error_saying_why(result):
    with pytest.raises(ValueError, match="no effects stage"):
        result.figure("effects")
    with pytest.raises(ValueError, match="pareto"):
        result.figure("pareto")


def test_drawing_every_figure_leaves_matplotlibs_style_and_pyplots_figures_alone(result):
    import matplotlib.pyplot as plt

    before = dict(matplotlib.rcParams.copy())
    open_before = plt.get_fignums()
    for name in ("history", "importances", "slices", "curves", "weights", "findings"):
        result.figure(name)
    assert dict(matplotlib.rcParams.copy()) == before  # Optuna's "ggplot" style included.
    assert plt.get_fignums() == open_before


def test_no_module_sets_matplotlibs_backend_or_style_for_the_process():
    from conftest import ROOT

    calls = ("matplotlib.use(", "plt.style.use(", "switch_backend(", "rcParams.update(")
    sources = [*(ROOT / "kerasnn").rglob("*.py"), *(ROOT / "studies").rglob("*.py")]
    found = [
        f"{path.relative_to(ROOT)}: {call}"
        for path in sources
        for call in calls
        if call in path.read_text()
    ]
    assert found == []


def test_reading_a_study_leaves_optunas_log_as_its_user_set_it(tmp_path):
    options = stored_study(tmp_path)
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.DEBUG)
    try:
        open_study(**options).figure("history")
        assert optuna.logging.get_verbosity() == optuna.logging.DEBUG
    finally:
        optuna.logging.set_verbosity(before)


def where(place) -> dict[str, str]:
    return {"storage": str(place / "s.log"), "reports": str(place / "reports")}


def test_a_run_that_ends_with_status_1_raises_a_runtime_fault(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "run_settings", lambda settings, **given: 1)
    with pytest.raises(RuntimeFault, match="exit status 1"):
        api.run_study("overfitting", **where(tmp_path))


@pytest.mark.parametrize("name", ["-h", "--help", "--list"])
def test_a_study_name_that_reads_like_an_option_is_an_unknown_study(name, tmp_path):
    with pytest.raises(UsageError, match="unknown study"):
        api.run_study(name, **where(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_a_study_name_that_is_not_a_string_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="named by a string"):
        api.run_study(3, **where(tmp_path))
    assert list(tmp_path.iterdir()) == []
