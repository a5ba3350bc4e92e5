"""summary.md: the answer first, then the search, the findings, the figures, the files and the
command."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from studies import dataset_identity
from studies.report import markdown
from studies.report.markdown import figure, table

# The figures shown under their own heading, in this order, each where its file exists; the
# effects and findings figures sit in their own sections instead.
FIGURES = {
    "history.png": "optimisation history of the search",
    "importances.png": "importances of the hyperparameters for the objective",
    "slices.png": "the objective against each hyperparameter",
    "curves.png": "training and validation loss and accuracy per epoch of the best trials",
    "weights.png": "the best search trial's first-layer weights",
    "pareto.png": "the Pareto front of validation accuracy and gap",
}


def header(study) -> list[str]:
    attrs = study.user_attrs
    states = (
        pd.Series([t.state.name for t in study.get_trials(deepcopy=False)]).value_counts().to_dict()
    )
    return [
        f"# Study {markdown.inline(study.study_name)}",
        "",
        f"Question: {attrs.get('question', '')}",
        "",
        f"- dataset: {dataset_identity.describe(dataset_identity.identity(attrs), attrs.get('dataset'))}"
        f" (training subset: {attrs.get('subset') or 'all'})",
        f"- objective: {attrs.get('objective')} ({', '.join(attrs.get('directions', []))}); "
        f"gap weight {attrs.get('gap_weight')}",
        f"- epochs per trial at most: {attrs.get('epochs')}",
        f"- arithmetic: {attrs.get('precision', 'float32')} ({PRECISIONS.get(attrs.get('precision', 'float32'), '')})",
        "- search trials: "
        + (", ".join(f"{count} {state}" for state, count in states.items()) or "none")
        + (f"; stopped: {attrs['stopped']}" if "stopped" in attrs else ""),
        *TIMED_OUT * (attrs.get("stopped") == "timeout"),
        *machine_lines(attrs),
        "",
    ]


def machine_lines(attrs: dict) -> list[str]:
    """The machine and library versions the study ran on, as it recorded them; a study that
    recorded none is said to, and this report's machine is named instead."""
    from studies.report import machine

    if isinstance(attrs.get("machine"), dict):
        return machine.lines(attrs["machine"])
    return [
        "- machine: not recorded by the study; this report was written on:",
        *("  " + line for line in machine.lines(machine.description())),
    ]


PRECISIONS = {
    "float32": "every product in float32",
    "bfloat16": "Keras' mixed_bfloat16: the hidden layers' products in bfloat16, weights, "
    "optimizer, softmax and loss in float32; see docs/studies.md",
}
TIMED_OUT = [
    "- --timeout ended the run before every stage was done: the same command (under "
    '"Reproduce") goes on where it stopped, without a --timeout'
]


def answer_lines(result, study) -> list[str]:
    """The confirmed answer, first thing in the summary; [] without a confirmation."""
    if result is None:
        return []
    lines = [*opening_lines(result), "", noise_line(result.seed_noise), ""]
    lines.append(configurations_table(result))
    return lines + ["", "Every confirmation run: confirm.csv / confirm.md.", ""]


def opening_lines(result) -> list[str]:
    """The answer's first lines: the winner, its confirmed figures, its test accuracy, its
    hyperparameters and the configurations tied with it. summary.md opens with them, and
    the terminal's last lines and a notebook's display of the answer are these lines."""
    winner = result.winner
    spreads = winner.spreads
    lines = [
        f"## Answer: trial {winner.source}'s configuration",
        "",
        f"Confirmed over {len(winner.seeds)} fresh seeds ({', '.join(map(str, winner.seeds))}), "
        "mean ± standard deviation:",
        "",
        f"- objective {spreads['objective']} (95% interval {interval(spreads['objective'])})",
        f"- validation accuracy {spreads['val_accuracy']}, gap {spreads['gap']}",
        f"- test accuracy {test_text(result)}",
        "- hyperparameters: " + ", ".join(f"`{k}={v}`" for k, v in winner.params.items()),
    ]
    tied = ", ".join(f"trial {c.source}" for c in result.tied)
    lines.append(f"- tied with it within seed noise: {tied}" if tied else "- tied with it: none")
    undecided = ", ".join(f"trial {c.source}" for c in result.undecided)
    if undecided:
        lines.append(f"- undecided (fewer than two runs a side): {undecided}")
    return lines


def configurations_table(result) -> str:
    """Every confirmed configuration (winner first) with its figures and its verdict
    against the winner, as a markdown table."""
    rows = [
        [
            f"trial {c.source}",
            c.spreads["objective"].n,
            c.spreads["objective"],
            interval(c.spreads["objective"]),
            c.spreads["val_accuracy"],
            c.spreads["gap"],
            "winner" if c.versus_winner is None else against(c),
        ]
        for c in result.configurations
    ]
    header = ["configuration", "runs", "objective", "95% interval", "validation accuracy"]
    return table([*header, "gap", "against the winner"], rows)


def noise_line(noise: float) -> str:
    if math.isnan(noise):
        return "Seed noise: not measured (no configuration has two runs)."
    return (
        f"Seed noise: the pooled seed standard deviation of the objective is {noise:.4f}; a "
        "search trial is one seed, so differences between search trials of this size are not "
        "meaningful."
    )


def no_answer_lines(runs) -> list[str]:
    """Why a confirmation that ran has no answer; [] without a confirmation."""
    if runs is None:
        return []
    states = runs["state"].value_counts().to_dict() if not runs.empty else {}
    reasons = sorted({str(r) for r in runs.get("fail_reason", []) if isinstance(r, str) and r})
    lines = [
        "## Answer: none confirmed",
        "",
        "No configuration has a complete confirmation run, so the search's best is unconfirmed; "
        "runs: " + (", ".join(f"{n} {state}" for state, n in states.items()) or "none") + ".",
    ]
    if reasons:
        lines += ["", "Why they failed:", "", *[f"- {reason}" for reason in reasons]]
    return lines + ["", "Every confirmation run: confirm.csv / confirm.md.", ""]


def against(confirmed) -> str:
    """The winner against this runner-up, in words."""
    return "winner is " + confirmed.versus_winner.verdict()


def interval(spread) -> str:
    return "n/a" if math.isnan(spread.low) else f"{spread.low:.4f} to {spread.high:.4f}"


def test_text(result) -> str:
    if result.test is None:
        return "not evaluated yet"
    return (
        f"{result.test} over the winner's {result.test.n} runs (evaluated once, for the "
        "winner only, after it was chosen; never used to choose)"
    )


def best_lines(study, frame, best) -> list[str]:
    states = frame["state"].value_counts().to_dict()
    if best is None and states and set(states) == {"FAIL"}:
        reasons = frame["fail_reason"].fillna("no reason stored").value_counts()
        return [
            f"**Every trial failed ({len(frame)} of {len(frame)})**, so there is no best "
            "configuration. Reasons:",
            "",
            *(f"- {count} x {reason}" for reason, count in reasons.items()),
            "",
        ]
    if best is None:
        return ["No trial completed, so there is no best configuration.", ""]
    user = best.user_attrs
    rule = (
        "the Pareto-front trial with the best val_accuracy - gap_weight * max(0, gap)"
        if len(study.directions) > 1
        else "the best objective"
    )
    measures = [
        ["objective", _number(user.get("objective"))],
        ["validation accuracy", _number(user.get("val_accuracy"))],
        ["training accuracy (inference mode)", _number(user.get("train_accuracy"))],
        ["gap (train - validation)", _number(user.get("gap"))],
        [
            "best epoch / epochs trained",
            f"{user.get('best_epoch', '?')} / {user.get('epochs', '?')}",
        ],
    ]
    return [
        f"## Best search trial: trial {best.number} ({rule}, one seed)",
        "",
        table(["measure", "value"], measures),
        "",
        "Hyperparameters: " + ", ".join(f"`{name}={value}`" for name, value in best.params.items()),
        "",
        f"Model: `{user.get('model_config')}`",
        "",
        f"Training: `{user.get('train_config')}`",
        "",
    ]


def _number(value) -> str:
    """A stored measure to four decimals; what an edited storage holds instead, as it is."""
    return f"{value:.4f}" if isinstance(value, int | float) else str(value)


def figures_lines(folder: Path) -> list[str]:
    """The study's figures that exist in its folder, shown; [] when there are none."""
    shown = [figure(name, caption) for name, caption in FIGURES.items() if (folder / name).exists()]
    if not shown:
        return []
    return ["## Figures", ""] + [line for image in shown for line in (image, "")]


def files_lines(study, result, findings, notes, effects: bool = False) -> list[str]:
    names = ["trials.csv / trials.md (ranked search trials)"]
    if result is not None:
        names.append("confirm.csv / confirm.md (confirmation runs)")
    if effects:
        names.append("effects.csv / effects.png (effects around the winner)")
    if findings:
        names.append("findings.png")
    names += [
        "history.png",
        "importances.png",
        "slices.png",
        "curves.png (best trials)",
        "weights.png",
    ]
    if len(study.directions) > 1:
        names.append("pareto.png")
    lines = ["## Files", "", ", ".join(names), ""]
    if notes:
        lines += ["Notes:", ""] + [f"- {note}" for note in notes] + [""]
    return lines


def reproduce_lines(study) -> list[str]:
    attrs = study.user_attrs
    command = str(attrs.get("command", "(not recorded)"))
    lines = ["## Reproduce", "", *markdown.code_block(command.splitlines()), ""]
    continuations = [
        line for each in attrs.get("continuations", []) for line in str(each).splitlines()
    ]
    if continuations:
        lines += ["Continued with:", "", *markdown.code_block(continuations), ""]
    return lines
