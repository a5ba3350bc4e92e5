"""The automatic report of a study, rebuilt from its storage alone."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path

import optuna

from studies.engine import confirm, effects, plans
from studies.engine.progress import shown_name
from studies.engine.ranking import recommended
from studies.report import answer_file, dashboard, findings, markdown, summary
from studies.report import effects as effects_report
from studies.report import winner as winner_report
from studies.report.figures import (
    draw_curves,
    draw_optuna_plots,
    draw_weights,
    placeholder,
)
from studies.report.markdown import frame_table
from studies.report.table import confirmation_table, planned_table, ranked_table

# What other steps write into a study's report folder (the logs of --workers); a new report
# keeps it. Everything else in the folder is the report's and is replaced whole.
KEPT = ("workers",)


def write_report(study: optuna.Study, storage, settings, module, read_only: bool = False) -> Path:
    """Writes the whole report of `study` (and of its stages) into its folder, and its
    answer as the dashboard notes; `read_only` leaves the storage untouched (no notes).

    The report is written whole or not at all: into a folder beside it, renamed into place
    once every file is written, so a failure or a stop while writing leaves the earlier
    report as it was.
    """
    with staged(settings.folder) as folder:
        note, effects_section, companion, result = _write_files(
            study, storage, settings, module, folder, read_only
        )
    _dashboard_notes(study, storage, note, effects_section, companion, result, read_only)
    return settings.folder


def _write_files(study, storage, settings, module, folder: Path, read_only: bool) -> tuple:
    """Every file of the report into `folder`; the dashboard notes' parts."""
    notes: list[str] = []
    frame = ranked_table(study)
    frame.to_csv(folder / "trials.csv", index=False)
    (folder / "trials.md").write_text(
        f"# Trials of {markdown.inline(study.study_name)}\n\n{frame_table(frame)}\n"
    )
    draw_optuna_plots(study, folder, notes)
    best = recommended(study)
    draw_curves(study, frame, folder, notes)
    if best is not None:
        draw_weights(storage, best, settings, folder / "weights.png", notes)
    else:
        notes.append("weights.png not drawn: no trial completed")
        placeholder(folder / "weights.png", notes[-1])
    result, runs = _confirmation(study, storage, folder)
    measured, companion = _effects(study, storage, module, folder)
    findings = _findings(study, module, result, folder)
    answer = summary.answer_lines(result, study) or summary.no_answer_lines(runs)
    effects_section = effects_report.lines(measured, result)
    winner_section = winner_report.write(study, storage, settings, result, folder, notes, read_only)
    _answer_file(study, storage, settings, result, folder, notes)
    parts = [
        summary.header(study),
        answer,
        winner_section,
        effects_section,
        summary.best_lines(study, frame, best),
        findings,
        summary.figures_lines(folder),
        summary.files_lines(study, result, findings, notes, measured is not None),
        summary.reproduce_lines(study),
    ]
    (folder / "summary.md").write_text("\n".join(line for part in parts for line in part))
    note = answer or summary.best_lines(study, frame, best)
    return note, effects_section, companion, result


@contextlib.contextmanager
def staged(folder: Path):
    """A new folder beside `folder` to write into, renamed into its place once the block
    ends without error (what `KEPT` names carried over from the old one); removed, and the
    old folder left as it was, when the block raises or is stopped."""
    staging = folder.with_name(f".{folder.name}.writing-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)  # Left by an earlier process of this pid.
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging.mkdir()
    try:
        yield staging
        _replace(folder, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _replace(folder: Path, staging: Path) -> None:
    """Renames `staging` into `folder`'s place, carrying over what `KEPT` names; the old
    folder is set aside until then, and put back if the rename fails."""
    if not folder.exists():
        staging.rename(folder)
        return
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    folder.rename(old)
    kept = [name for name in KEPT if (old / name).exists()]
    try:
        for name in kept:
            (old / name).rename(staging / name)
        staging.rename(folder)
    except BaseException:
        for name in kept:
            if (staging / name).exists():
                (staging / name).rename(old / name)
        old.rename(folder)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _answer_file(study, storage, settings, result, folder: Path, notes: list[str]) -> None:
    """answer.json of the confirmed answer. Without one, or when its runs lack what trains
    them again (an edited storage: one warning line and a note), an earlier file is removed:
    it would belong to another answer."""
    path = folder / answer_file.FILENAME
    if result is None:
        path.unlink(missing_ok=True)
        return
    try:
        answer_file.write(folder, answer_file.record(study, storage, settings, result, folder))
    except (KeyError, TypeError, ValueError) as error:
        path.unlink(missing_ok=True)
        notes.append(f"{answer_file.FILENAME} not written: a confirmation run lacks {error}")
        print(f"warning: {notes[-1]}", file=sys.stderr, flush=True)


def _dashboard_notes(study, storage, note, effects_section, companion, result, read_only):
    """The answer and the effects on the dashboard, as summary.md words them; a read-only
    report says it left them as they are."""
    if read_only:
        print(
            f"[{shown_name(study.study_name)}] --report-only reads the storage only: the dashboard notes "
            "were left as they are",
            flush=True,
        )
        return
    companions = {
        "confirm": confirm.load_confirmation(storage, study.study_name),
        "effects": companion,
    }
    dashboard.publish(study, companions, note, effects_section, result)


def _confirmation(study, storage, folder: Path):
    """The confirmation's answer (None without one) and the table of its runs (None without
    a confirmation); writes confirm.csv and confirm.md of every run."""
    confirmation = confirm.load_confirmation(storage, study.study_name)
    if confirmation is None:
        return None, None
    table = confirmation_table(confirmation)
    table.to_csv(folder / "confirm.csv", index=False)
    (folder / "confirm.md").write_text(
        f"# Confirmation runs of {markdown.inline(study.study_name)}\n\n{frame_table(table)}\n"
    )
    return confirm.answer(study, confirmation), table


def _effects(study, storage, module, folder: Path):
    """The effects around the winner (None without an effects study) and their study;
    writes effects.csv of every run and effects.png."""
    companion = plans.load_companion(storage, study.study_name, effects.STAGE_NAME)
    if companion is None:
        return None, None
    planned_table(companion, ["source_trial", "variant", "seed"]).to_csv(
        folder / "effects.csv", index=False
    )
    measured = effects.results(companion, study, module)
    if measured is not None:
        effects_report.plot(measured, folder / "effects.png")
    return measured, companion


def _findings(study, module, result, folder: Path) -> list[str]:
    """findings.png and the observational section: what the search trials say about each
    scientific hyperparameter, confounded by the others."""
    scientific = list(getattr(module, "SCIENTIFIC", ()))
    frame = findings.completed(study)
    if not scientific or len(frame) < 2:
        return []
    confirmed = [c.source for c in result.configurations] if result else []
    findings.plot_findings(frame, scientific, confirmed, folder / "findings.png")
    lines = [
        "## What the search happened to try (observational)",
        "",
        f"From the {len(frame)} completed search trials (one seed each). Observational: each "
        "trial moved every hyperparameter at once, as the sampler chose, so a group's median "
        "mixes its own effect with the others'; what one hyperparameter does alone is measured "
        'under "Effects around the winner".',
        "",
    ]
    lines += [f"- {sentence}" for sentence in findings.sentences(frame, scientific)]
    table = findings.importances(study, [name for name in scientific if name in frame])
    if not table.empty:
        lines += [
            "",
            "Importance of each scientific hyperparameter for reaching the best quarter of the "
            "trials, by validation accuracy and by gap apart (PED-ANOVA; observational too: "
            "what the best trials the sampler happened to try have in common):",
            "",
            markdown.table(
                ["hyperparameter", "for validation accuracy", "for the gap"],
                [
                    [name, f"{row['val_accuracy']:.2f}", f"{row['gap']:.2f}"]
                    for name, row in table.iterrows()
                ],
            ),
        ]
    caption = "validation accuracy and gap against each one; confirmed configurations ringed"
    return lines + [
        "",
        markdown.figure("findings.png", caption),
        "",
        f"findings.png: {caption}.",
        "",
    ]
