"""The confirmed winner as a Keras model: the network of its median confirmation run.

A study's user takes home a network, not only its figures. The winner was trained once per
fresh seed in the confirmation; the run whose objective is the median of those runs (the
lower of the two middle ones for an even count) stands for it, with the weights of its best
epoch, which the confirmation kept and its figures were measured with. The network is the
one `build_model` makes, standard Keras layers only, so the file loads with
`keras.saving.load_model` where kerasnn is not installed, on any Keras backend.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import optuna

from kerasnn.export import RawInput, taking_raw_input
from studies.engine import confirm
from studies.engine.runs import stored_model
from studies.storage import artifacts

FILENAME = "winner.keras"
# The search study's user attribute naming the run whose network is attached to it.
ATTACHED = "winner_model"


def median_run(
    search: optuna.Study, confirmation: optuna.Study, answer: confirm.Answer
) -> optuna.trial.FrozenTrial:
    """The winner's confirmation run whose objective is the median of its runs (ties in
    the objective broken by seed)."""
    winner = answer.winner
    runs = [
        run
        for run in confirm.runs_by_source(search, confirmation)[winner.source]
        if int(run.user_attrs["seed"]) in winner.seeds
    ]
    ranked = sorted(
        runs, key=lambda run: (run.user_attrs["objective"], int(run.user_attrs["seed"]))
    )
    return ranked[(len(ranked) - 1) // 2]


def save(
    run: optuna.trial.FrozenTrial, storage, artifact_dir: Path, path: Path, raw: RawInput
) -> None:
    """Writes the run's network with its best epoch's weights to `path` (Keras' format),
    behind first layers that take the examples as the study's data stored them (`raw`) and
    scale them as training did: see `kerasnn.export`.

    The optimizer is built before saving (its state fresh, as after `compile`): an
    unbuilt one would make every load warn that its variables do not match.

    Raises:
        FileNotFoundError with a one-line reason when the run's weights are missing, and
        ValueError when its stored configuration cannot be built (an edited storage).
    """
    try:
        model = stored_model(run, storage, artifact_dir)
    except (KeyError, TypeError) as error:
        raise ValueError(
            f"confirmation run {run.number} has no usable model_config "
            f"({type(error).__name__}: {error})"
        ) from None
    taking_raw_input(model, raw).save(path)


def attach(search: optuna.Study, artifact_dir: Path, run, saved: Path) -> None:
    """Attaches `saved`, the network of the winner's median confirmation `run`, to the
    search study as an Optuna artifact, so that optuna-dashboard offers it for download on
    the study's page; once per median run. The report step calls it, once the study's
    stages are done, so many workers attach it once.

    Optuna refuses to change a finished trial, so the file goes on the study, named after
    its run (`winner-confirmation-run-N.keras`: a later winner of an extended study is
    told apart), and `winner_model` on the study names the run it came from. A file that
    cannot be written is one warning line: the study's results stand without it.
    """
    if search.user_attrs.get(ATTACHED, {}).get("confirmation_run") == run.number:
        return
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / attached_name(run)
            shutil.copyfile(saved, path)
            artifacts.upload(search, artifact_dir, [(path, "application/octet-stream")])
    except OSError as error:
        print(
            f"warning: {FILENAME} not attached to study {search.study_name}: "
            f"{error.strerror or error}",
            file=sys.stderr,
            flush=True,
        )
        return
    search.set_user_attr(
        ATTACHED, {"confirmation_run": run.number, "seed": int(run.user_attrs["seed"])}
    )


def attached_name(run: optuna.trial.FrozenTrial) -> str:
    """The name of the winner's file on the dashboard: the run it came from."""
    return f"winner-confirmation-run-{run.number}.keras"
