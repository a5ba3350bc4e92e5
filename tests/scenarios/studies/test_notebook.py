"""A study run in a Jupyter notebook, executed headless: the notebook stays the user's (their
own plot still shows), the answer displays itself, progress is a bar and nothing warns."""

from __future__ import annotations

import importlib.util
import os

import pytest
from conftest import require

pytestmark = pytest.mark.slow

STUDY = (
    "from studies import run_study\n"
    "result = run_study(dataset='mnist', subset=1000, epochs=1, trials=2, confirm_top=2, "
    "confirm_seeds=2, storage='sqlite:///s.db', reports='reports')"
)
CELLS = [
    STUDY,
    "result.answer",
    "result",
    "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()",
    "result.figure('curves')",
]


def executed(folder) -> list:
    """The cells of CELLS, run in a fresh kernel in `folder` with the environment a user has
    (no TF_CPP_MIN_LOG_LEVEL, no matplotlib backend chosen); their outputs."""
    import nbclient
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("TF_CPP_MIN_LOG_LEVEL", "MPLBACKEND")
    }
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute(env=environment)
    return [cell.outputs for cell in notebook.cells]


def kinds(outputs) -> set[str]:
    return {kind for output in outputs for kind in output.get("data", {})}


def stream(outputs, name: str) -> str:
    return "".join(o.text for o in outputs if o.output_type == "stream" and o.name == name)


def test_a_study_in_a_notebook_leaves_its_plots_shows_its_answer_and_warns_of_nothing(
    tmp_path, data_dir
):
    for package in ("nbclient", "nbformat", "ipykernel"):
        require(importlib.util.find_spec(package) is not None, f"{package} is not installed")
    study, answer, result, plot, figure = executed(tmp_path)
    # The user's own figure still shows: the study left the notebook's backend alone.
    assert "image/png" in kinds(plot)
    # The answer and the result display as summary.md opens.
    assert "text/markdown" in kinds(answer) and "text/markdown" in kinds(result)
    shown = answer[0]["data"]["text/markdown"]
    assert shown.startswith("## Answer: trial ") and "| configuration | runs |" in shown
    opening = shown[: shown.index("\n\n| configuration")]
    assert opening in next((tmp_path / "reports").glob("*/summary.md")).read_text()
    # A report's figure, drawn from the stored runs, displays as an image too.
    assert "image/png" in kinds(figure)
    # Progress was a bar for each stage (tqdm's widget where ipywidgets is installed, its
    # text bar in the cell's output otherwise), ending with the answer's lines.
    printed = stream(study, "stdout")
    widgets = "application/vnd.jupyter.widget-view+json" in kinds(study)
    assert widgets or ("search: 100%" in printed and "confirmation: 100%" in printed)
    assert "\nAnswer: trial " in printed and "summary: reports/" in printed
    # Nothing warned, and TensorFlow's start-up lines stayed off the cells.
    for outputs in (study, answer, result, plot, figure):
        errors = stream(outputs, "stderr")
        assert "warning" not in errors.lower() and "I0000" not in errors, errors
