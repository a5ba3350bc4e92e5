"""optuna-dashboard on a study we ran: its HTTP API and the pages a headless Chromium renders:
the study list, the studies' pages and their notes, which say what summary.md says."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import require
from PIL import Image
from services import free_port, wait_for

from benchmarks import dashboard_load
from studies.run import main

pytestmark = pytest.mark.slow

# The flags the scale benchmark drives Chromium with: one list for both.
CHROMIUM, CHROMIUM_FLAGS = str(dashboard_load.CHROMIUM), dashboard_load.CHROMIUM_FLAGS
STUDY = "dashboard-check"


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def answers(url: str) -> bool:
    try:
        get(url)
    except OSError:
        return False
    return True


def chromium(url: str, profile: Path, *options: str) -> str:
    done = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *options, url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory, data_dir):
    """A 2-trial study run by the CLI, served by optuna-dashboard on 127.0.0.1."""
    executable = Path(sys.executable).parent / "optuna-dashboard"
    require(executable.exists() or shutil.which("optuna-dashboard"), "optuna-dashboard missing")
    folder = tmp_path_factory.mktemp("dashboard")
    reports = folder / "reports"
    reports.mkdir()
    storage = f"sqlite:///{reports / 'kerasnn.db'}"
    # The study in this process (TensorFlow is started here already); the server apart.
    arguments = ["--dataset", "mnist", "--subset", "1000", "--trials", "2", "--epochs", "1"]
    arguments += ["--pruner", "none", "--study-name", STUDY, "--storage", storage]
    arguments += ["--reports", str(reports), "--confirm-top", "1", "--confirm-seeds", "2"]
    assert main([*arguments, "--effects-seeds", "1"]) == 0
    port = free_port()
    # The README's command, on a free port.
    server = subprocess.Popen(
        [str(executable) if executable.exists() else "optuna-dashboard", storage]
        + ["--artifact-dir", str(reports / "artifacts"), "--host", "127.0.0.1"]
        + ["--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(f"{base}/api/studies"), 60, "the dashboard to answer")
        yield base, folder
    finally:
        server.terminate()
        server.wait(timeout=30)


def study_detail(base: str, name: str = STUDY) -> dict:
    summaries = json.loads(get(f"{base}/api/studies"))["study_summaries"]
    [summary] = [study for study in summaries if study["study_name"] == name]
    return json.loads(get(f"{base}/api/studies/{summary['study_id']}")) | {
        "study_id": summary["study_id"]
    }


def test_dashboard_api_serves_the_study_with_named_metrics_attributes_and_curves(dashboard):
    base, _ = dashboard
    detail = study_detail(base)

    assert detail["name"] == STUDY
    assert detail["objective_names"] == ["objective"]
    assert detail["directions"] == ["maximize"]
    complete = [trial for trial in detail["trials"] if trial["state"] == "Complete"]
    assert len(complete) == 2
    for trial in complete:
        attributes = {item["key"]: item["value"] for item in trial["user_attrs"]}
        for key in ("train_accuracy", "val_accuracy", "gap", "epochs"):
            assert key in attributes
        assert "test_accuracy" not in attributes  # The search never sees the test set.
        assert 0.0 <= float(attributes["val_accuracy"]) <= 1.0
        assert attributes["epochs"] == "1"
        [curves] = [a for a in trial["artifacts"] if a["filename"].startswith("curves")]
        assert curves["mimetype"] == "image/png"
        image = get(
            f"{base}/artifacts/{detail['study_id']}/{trial['trial_id']}/{curves['artifact_id']}"
        )
        assert image.startswith(b"\x89PNG")
        [weights] = [
            a
            for a in trial["artifacts"]
            if a["filename"].endswith(".png") and a["filename"].startswith("weights")
        ]
        assert weights["mimetype"] == "image/png"


def test_the_study_note_carries_the_confirmed_answer_and_the_runs_are_a_study_of_their_own(
    dashboard,
):
    base, _ = dashboard
    detail = study_detail(base)
    assert "## Answer: trial" in detail["note"]["body"]
    assert "Seed noise" in detail["note"]["body"]
    summaries = json.loads(get(f"{base}/api/studies"))["study_summaries"]
    [confirmation] = [s for s in summaries if s["study_name"] == STUDY + "-confirm"]
    runs = json.loads(get(f"{base}/api/studies/{confirmation['study_id']}"))["trials"]
    assert [trial["state"] for trial in runs] == ["Complete", "Complete"]


def test_headless_chromium_renders_the_study_page_and_a_trial_with_its_curves(dashboard, tmp_path):
    require(Path(CHROMIUM).exists(), "Chromium is not installed (apt-get install chromium)")
    base, _ = dashboard
    study_id = study_detail(base)["study_id"]

    screenshot = tmp_path / "study.png"
    chromium(
        f"{base}/dashboard/studies/{study_id}",
        tmp_path / "profile-1",
        f"--screenshot={screenshot}",
        "--window-size=1280,900",
    )
    pixels = np.asarray(Image.open(screenshot).convert("L"), dtype=float)
    assert pixels.shape == (900, 1280)
    assert pixels.std() > 20  # A blank or error page is near-uniform.
    assert len(np.unique(pixels)) > 50

    page = chromium(
        f"{base}/dashboard/studies/{study_id}/trials", tmp_path / "profile-2", "--dump-dom"
    )
    assert STUDY in page
    assert "Trial 0" in page and "Trial 1" in page
    assert "curves-trial-0.png" in page  # The trial's artifact card.
    assert "val_accuracy" in page  # The trial's user attributes.


def section(summary: str, heading: str) -> list[str]:
    """The lines of summary.md's section that opens with `heading`, up to the next section,
    without its figures (which a note cannot show)."""
    lines = summary.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return [line for line in lines[start:end] if not line.startswith("![")]


def summary_of(folder: Path) -> str:
    [path] = folder.glob("reports/*/summary.md")
    return path.read_text()


def test_every_note_says_what_summary_md_says_with_one_effects_seed_undecided(dashboard):
    base, folder = dashboard
    summary = summary_of(folder)
    answer = "\n".join(section(summary, "## Answer: trial"))
    effects = "\n".join(section(summary, "## Effects around the winner"))
    assert "(undecided: fewer than two runs a side)" in effects  # One seed a variant.
    notes = {
        suffix: study_detail(base, STUDY + suffix)["note"]["body"]
        for suffix in ("", "-confirm", "-effects")
    }
    assert answer in notes[""] and effects in notes[""]
    assert answer in notes["-confirm"]
    assert effects in notes["-effects"]
    assert all("beyond seed noise" not in note for note in notes.values())
    assert "Best Trial card" in notes[""] and "one seed" in notes[""]


def test_the_companions_say_what_they_are_and_whose_they_are(dashboard):
    base, _ = dashboard
    for suffix, what in (("-confirm", "the confirmation of"), ("-effects", "the effects stage of")):
        attributes = {
            item["key"]: item["value"] for item in study_detail(base, STUDY + suffix)["user_attrs"]
        }
        assert attributes["about"].startswith(f"{what} study {STUDY}:")
    search = {item["key"]: item["value"] for item in study_detail(base)["user_attrs"]}
    assert search["about"].startswith("the search; confirmed answer: trial ")


def test_chromium_shows_the_study_list_the_companions_labels_and_the_notes(dashboard, tmp_path):
    require(Path(CHROMIUM).exists(), "Chromium is not installed (apt-get install chromium)")
    base, folder = dashboard
    listing = chromium(f"{base}/dashboard", tmp_path / "profile-list", "--dump-dom")
    for name in (STUDY, STUDY + "-confirm", STUDY + "-effects"):
        assert f". {name}<" in listing  # Each card: "<id>. <name>".
    winner = answer_file_winner(folder)
    for suffix, label, verdict in (
        ("-confirm", "the confirmation of study", f"Answer: trial {winner}'s configuration"),
        ("-effects", "the effects stage of study", "(undecided: fewer than two runs a side)"),
        ("", "the search; confirmed answer", f"Answer: trial {winner}'s configuration"),
    ):
        study_id = study_detail(base, STUDY + suffix)["study_id"]
        page = chromium(
            f"{base}/dashboard/studies/{study_id}", tmp_path / f"profile{suffix}-page", "--dump-dom"
        )
        assert label in page  # The study's user attributes, on its page.
        note = chromium(
            f"{base}/dashboard/studies/{study_id}/note",
            tmp_path / f"profile{suffix}-note",
            "--dump-dom",
        )
        assert verdict in note.replace("&#x27;", "'").replace("&#39;", "'")


def answer_file_winner(folder: Path) -> int:
    [path] = folder.glob("reports/*/answer.json")
    return json.loads(path.read_text())["winner"]
