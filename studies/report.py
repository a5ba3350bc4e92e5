"""The automatic report of a study, rebuilt from its storage alone."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import optuna  # noqa: E402
import pandas as pd  # noqa: E402
from optuna.trial import TrialState  # noqa: E402
from optuna.visualization import matplotlib as optuna_plots  # noqa: E402

from kerasnn.data import CLASS_NAMES  # noqa: E402
from kerasnn.plots import plot_curves, plot_weights  # noqa: E402
from studies import artifacts, summary  # noqa: E402

RESULT_COLUMNS = [
    "val_accuracy",
    "train_accuracy",
    "gap",
    "best_epoch",
    "epochs",
    "seconds",
]
STATE_ORDER = {"COMPLETE": 0, "PRUNED": 1, "RUNNING": 2, "WAITING": 3, "FAIL": 4}
CURVES_OF_BEST = 3


def ranked_table(study: optuna.Study) -> pd.DataFrame:
    """Every trial, completed ones ranked best first by the objective, the rest below by state.

    In a two-objective study the `objective` column is the penalized score computed from
    the pair, which picks the recommended trial from the Pareto front (see `recommended`);
    `pareto_front` marks the front. Search trials never see the test set.
    """
    frame = study.trials_dataframe(attrs=("number", "state", "params", "user_attrs"))
    if frame.empty:
        return pd.DataFrame(columns=["rank", "number", "state", "objective", *RESULT_COLUMNS])
    frame = frame.rename(columns=lambda name: name.removeprefix("user_attrs_"))
    frame = frame.rename(columns=lambda name: name.removeprefix("params_"))
    for column in ["objective", *RESULT_COLUMNS, "fail_reason"]:
        if column not in frame:
            frame[column] = np.nan
    _explain_dead_workers(study, frame)
    complete = frame["state"] == "COMPLETE"
    if len(study.directions) > 1:
        front = {trial.number for trial in study.best_trials}
        frame.insert(4, "pareto_front", frame["number"].isin(front))
    frame["_state_order"] = frame["state"].map(STATE_ORDER).fillna(5)
    frame["_key"] = np.where(complete, -frame["objective"].astype(float), np.inf)
    frame = frame.sort_values(["_state_order", "_key", "number"], kind="stable")
    frame.insert(0, "rank", np.where(frame["state"] == "COMPLETE", 0, np.nan))
    frame.loc[frame["state"] == "COMPLETE", "rank"] = np.arange(1, int(complete.sum()) + 1)
    frame["rank"] = frame["rank"].astype("Int64")
    hyperparameters = sorted({name for trial in study.trials for name in trial.params})
    leading = ["rank", "number", "state", "objective"]
    if "pareto_front" in frame:
        leading.append("pareto_front")
    # Test accuracy only where the study evaluated it (a grid's planned comparison).
    tested = ["test_accuracy"] if "test_accuracy" in frame else []
    columns = leading + RESULT_COLUMNS + tested + hyperparameters + ["fail_reason"]
    return frame[[column for column in columns if column in frame]].reset_index(drop=True)


def _explain_dead_workers(study: optuna.Study, frame: pd.DataFrame) -> None:
    """Fills fail_reason for trials that Optuna's heartbeat check failed, which store none."""
    retried_as = {}
    for trial in study.trials:
        original = trial.system_attrs.get("failed_trial", trial.user_attrs.get("retry_of"))
        if original is not None:
            retried_as.setdefault(original, trial.number)
    frame["fail_reason"] = frame["fail_reason"].astype(object)
    for index in frame.index[(frame["state"] == "FAIL") & frame["fail_reason"].isna()]:
        number = int(frame.at[index, "number"])
        if number in retried_as:
            frame.at[index, "fail_reason"] = (
                f"its worker stopped sending heartbeats (died); retried as trial "
                f"{retried_as[number]}"
            )


def best_trials(study: optuna.Study, top: int) -> list[optuna.trial.FrozenTrial]:
    """The study's best `top` completed trials, best first: the recommendation rule.

    By the objective; in a Pareto study, among the Pareto-optimal trials (no other trial has
    both a higher validation accuracy and a smaller gap), by the penalized score
    val_accuracy - gap_weight * max(0, gap), the single-objective study's trade-off.
    """
    pool = (
        study.best_trials
        if len(study.directions) > 1
        else study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    )
    pool = [trial for trial in pool if "objective" in trial.user_attrs]
    return sorted(pool, key=lambda trial: (-trial.user_attrs["objective"], trial.number))[:top]


def recommended(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The best search trial by the rule of `best_trials`, or None."""
    best = best_trials(study, 1)
    return best[0] if best else None


def _placeholder(path: Path, message: str) -> None:
    figure, axis = plt.subplots(figsize=(6, 2))
    axis.axis("off")
    axis.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _save_optuna_plot(path: Path, draw, notes: list[str]) -> None:
    """Saves one of Optuna's matplotlib plots, or a figure saying why it cannot be drawn."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            axes = draw()
        panels = list(np.ravel(axes))
        figure = panels[0].figure
        figure.set_size_inches(max(figure.get_size_inches()[0], 8), 5)
        if len(panels) > 1:
            # Side by side (the slice plot), log axes' minor labels and long category
            # names run into each other.
            for panel in panels:
                panel.tick_params(axis="x", labelrotation=45, labelsize=8)
                panel.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        # Optuna's colour bar is an extra axis that tight_layout lays over the last panel.
        colorbars = [extra for extra in figure.axes if extra not in panels]
        figure.tight_layout(rect=(0, 0, 0.96 if colorbars else 1, 1))
        for colorbar in colorbars:
            colorbar.set_position((0.965, 0.15, 0.008, 0.7))
        figure.savefig(path, dpi=90)
        plt.close(figure)
    except Exception as error:  # Optuna raises several types when there is too little data.
        message = f"{path.name} not drawn: {str(error) or type(error).__name__}"
        notes.append(message)
        _placeholder(path, message)


def _target(study):
    if len(study.directions) > 1:
        return {
            "target": lambda trial: trial.user_attrs.get("objective", math.nan),
            "target_name": "penalized score",
        }
    return {"target_name": "objective"}


def _weights(storage, trial, settings, path: Path, notes: list[str]) -> None:
    kernel, problem = artifacts.load_kernel(trial, storage, settings.artifact_dir)
    if kernel is None:
        notes.append(f"weights.png not drawn: {problem}")
        _placeholder(path, notes[-1])
        return
    units = kernel.shape[1]
    plot_weights(
        kernel,
        path,
        title=f"trial {trial.number}: first-layer weights ({units} units, first {min(units, 32)})",
        labels=weight_labels(trial, settings.dataset),
    )


def weight_labels(trial, dataset: str) -> list[str] | None:
    """The class names for a softmax regression's kernel (a column per class), else None."""
    regression = trial.user_attrs.get("model_config", {}).get("hidden_units") == 0
    return list(CLASS_NAMES[dataset]) if regression else None


def _markdown(frame: pd.DataFrame) -> str:
    shown = frame.copy()
    for column in shown.columns:
        if shown[column].dtype.kind == "f":
            shown[column] = shown[column].map(
                lambda value: "" if pd.isna(value) else f"{value:.4g}"
            )
    shown = shown.astype(object).where(shown.notna(), "")
    rows = [list(shown.columns), ["---"] * len(shown.columns), *shown.values.tolist()]
    return "\n".join("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)


def write_report(study: optuna.Study, storage, settings, module) -> Path:
    """Writes the whole report of `study` (and of its confirmation) into its folder."""
    folder = settings.folder
    folder.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    frame = ranked_table(study)
    frame.to_csv(folder / "trials.csv", index=False)
    (folder / "trials.md").write_text(f"# Trials of {study.study_name}\n\n{_markdown(frame)}\n")
    _optuna_plots(study, folder, notes)
    best = recommended(study)
    _curves(study, frame, folder, notes)
    if best is not None:
        _weights(storage, best, settings, folder / "weights.png", notes)
    else:
        notes.append("weights.png not drawn: no trial completed")
        _placeholder(folder / "weights.png", notes[-1])
    result = _confirmation(study, storage, settings, folder)
    findings = _findings(study, module, result, folder)
    answer = summary.answer_lines(result, study)
    parts = [
        summary.header(study),
        answer,
        summary.best_lines(study, frame, best),
        findings,
        summary.files_lines(study, result, findings, notes),
        summary.reproduce_lines(study),
    ]
    (folder / "summary.md").write_text("\n".join(line for part in parts for line in part))
    _dashboard_note(study, answer or summary.best_lines(study, frame, best))
    return folder


def _optuna_plots(study, folder: Path, notes: list[str]) -> None:
    target = _target(study)
    plots = {
        "history.png": lambda: optuna_plots.plot_optimization_history(study, **target),
        "importances.png": lambda: optuna_plots.plot_param_importances(study, **target),
        "slices.png": lambda: optuna_plots.plot_slice(study, **target),
    }
    if len(study.directions) > 1:
        plots["pareto.png"] = lambda: optuna_plots.plot_pareto_front(
            study, target_names=["val_accuracy", "gap"]
        )
    for name, draw in plots.items():
        _save_optuna_plot(folder / name, draw, notes)


def _curves(study, frame, folder: Path, notes: list[str]) -> None:
    complete = frame[frame["state"] == "COMPLETE"]
    top = [study.trials[number] for number in complete["number"].head(CURVES_OF_BEST)]
    histories = {
        f"trial {trial.number} (rank {rank})": trial.user_attrs["history"]
        for rank, trial in enumerate(top, start=1)
        if "history" in trial.user_attrs
    }
    if histories:
        plot_curves(histories, folder / "curves.png")
    else:
        notes.append("curves.png not drawn: no trial completed")
        _placeholder(folder / "curves.png", notes[-1])


def _confirmation(study, storage, settings, folder: Path):
    """The confirmation's answer (None without one); writes confirm.csv of every run."""
    from studies import confirm, engine

    name = study.study_name + confirm.SUFFIX
    if engine.stored_study(storage, name) is None:
        return None
    confirmation = optuna.load_study(study_name=name, storage=storage)
    rows = [
        {
            "source_trial": trial.user_attrs.get("source_trial"),
            "seed": trial.user_attrs.get("seed"),
            "number": trial.number,
            "state": trial.state.name,
            **{key: trial.user_attrs.get(key) for key in ("objective", *RESULT_COLUMNS)},
            "fail_reason": trial.user_attrs.get("fail_reason"),
        }
        for trial in confirmation.get_trials(deepcopy=False)
    ]
    table = pd.DataFrame(rows)
    if not table.empty:
        table = table.sort_values(["source_trial", "seed", "number"])
    table.to_csv(folder / "confirm.csv", index=False)
    (folder / "confirm.md").write_text(
        f"# Confirmation runs of {study.study_name}\n\n{_markdown(table)}\n"
    )
    return confirm.answer(study, confirmation, settings)


def _findings(study, module, result, folder: Path) -> list[str]:
    """findings.png and the generated Findings section, for the study's scientific hyperparameters."""
    from studies import findings

    scientific = list(getattr(module, "SCIENTIFIC", ()))
    frame = findings.completed(study)
    if not scientific or len(frame) < 2:
        return []
    confirmed = [c.source for c in result.configurations] if result else []
    findings.plot_findings(frame, scientific, confirmed, folder / "findings.png")
    lines = [
        "## Findings",
        "",
        f"From the {len(frame)} completed search trials (one seed each):",
        "",
    ]
    lines += [f"- {sentence}" for sentence in findings.sentences(frame, scientific)]
    table = findings.importances(study, [name for name in scientific if name in frame])
    if not table.empty:
        lines += [
            "",
            "Importance of each scientific hyperparameter for reaching the best quarter of the "
            "trials, by validation accuracy and by gap apart (PED-ANOVA):",
            "",
            "| hyperparameter | for validation accuracy | for the gap |",
            "|---|---|---|",
        ]
        lines += [
            f"| {name} | {row['val_accuracy']:.2f} | {row['gap']:.2f} |"
            for name, row in table.iterrows()
        ]
    return lines + [
        "",
        "findings.png: validation accuracy and gap against each one; confirmed configurations ringed.",
        "",
    ]


def _dashboard_note(study, lines: list[str]) -> None:
    """The answer as the study's note in optuna-dashboard, so a browsing user sees it first."""
    import optuna_dashboard

    optuna_dashboard.save_note(study, "\n".join(lines))
