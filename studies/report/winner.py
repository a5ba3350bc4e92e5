"""winner.keras in the report folder, and the summary's lines naming the run it came from."""

from __future__ import annotations

import sys
from pathlib import Path

from kerasnn.export import RawInput, contract, model_name
from studies import dataset_identity
from studies.engine import confirm
from studies.engine import winner_model as winner


def write(
    study, storage, settings, result, folder: Path, notes: list[str], read_only: bool = False
) -> list[str]:
    """Writes winner.keras from the stored weights of the winner's median confirmation run
    (nothing is trained), attaches it to the study unless `read_only`, and returns the
    summary's section on it; [] without an answer.

    Missing weights (or a run an edit left unbuildable) are one warning line and a note
    in the report, and an earlier winner.keras, which would belong to another run, is
    removed.
    """
    if result is None:
        return []
    confirmation = confirm.load_confirmation(storage, study.study_name)
    run = winner.median_run(study, confirmation, result)
    path = folder / winner.FILENAME
    raw = raw_input(study, settings)
    try:
        winner.save(run, storage, settings.artifact_dir, path, raw)
    except (FileNotFoundError, ValueError) as error:  # Missing weights, an edited run.
        path.unlink(missing_ok=True)
        notes.append(f"{winner.FILENAME} not written: {error}")
        print(f"warning: {notes[-1]}", file=sys.stderr, flush=True)
        return []
    if not read_only:
        winner.attach(study, settings.artifact_dir, run, path)
    attached = study.user_attrs.get(winner.ATTACHED, {}).get("confirmation_run") == run.number
    tested = confirm.run_test_accuracy(
        confirmation, result.winner.source, int(run.user_attrs["seed"])
    )
    return lines(result, run, attached, tested, raw)


def raw_input(study, settings) -> RawInput:
    """What the study's exported network takes: the examples as its data stored them."""
    return RawInput.of(dataset_identity.identity(study.user_attrs), settings.scale)


def stated_contract(run, raw: RawInput) -> tuple[str, str]:
    """The contract of the network of `run` in words, and the exported model's name."""
    config = run.user_attrs.get("model_config", {})
    shape = tuple(config.get("input_shape", (28, 28)))
    return contract(raw, shape, int(config.get("classes", 10))), model_name(raw, shape)


def lines(result, run, attached: bool, tested: float | None, raw: RawInput) -> list[str]:
    """The summary's section on winner.keras: which run, its seed and figures (its own test
    accuracy among them), the images it takes, and whether the dashboard offers it too."""
    user = run.user_attrs
    stated = stated_contract(run, raw)
    test = "not evaluated" if tested is None else f"{tested:.4f}"
    where = (
        f"the dashboard offers the same network as {winner.attached_name(run)}, an artifact "
        "of this study"
        if attached
        else "the dashboard has no copy yet (a run of the study attaches one, --report-only "
        "does not)"
    )
    return [
        "## The winner as a Keras model",
        "",
        f"`{winner.FILENAME}`: validation accuracy {user['val_accuracy']:.4f}, test accuracy "
        f"{test} (its own run's).",
        "",
        f"It {stated[0]}. Feed it the examples as read from the data's files "
        "(`model.predict(examples)`), not kerasnn's scaled ones. The file says so itself: its "
        f"input layer is `{raw.input_name()}` ({raw.dtype}) and the model is named "
        f"`{stated[1]}`.",
        "",
        f"`{winner.FILENAME}` is trial {result.winner.source}'s network as trained by "
        f"confirmation run {run.number} (seed {user['seed']}), the median of the winner's "
        f"{len(result.winner.seeds)} runs by objective, with the weights of its best epoch "
        f"({user.get('best_epoch', '?')} of {user.get('epochs', '?')}): objective "
        f"{user['objective']:.4f}, validation accuracy {user['val_accuracy']:.4f}, gap "
        f"{user['gap']:+.4f}. It loads with `keras.saving.load_model`, without kerasnn; "
        f"{where}.",
        "",
    ]
