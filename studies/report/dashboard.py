"""The study on optuna-dashboard: each study's note and label, in summary.md's own words.

optuna-dashboard lists studies by name alone (newest first, so a study's companions sit
above it) and opens a study on Optuna's charts and its "Best Trial" card: the best single
run, one seed. What it shows besides is a study's user attributes (on the study's page and
its Note tab) and its note (the Note tab). So each companion says what it is and whose it
is in a user attribute, `about`, and every note is made of the very lines summary.md holds
(the figures left out: the note cannot show the report's files), so the dashboard and the
report cannot disagree.
"""

from __future__ import annotations

from studies.engine.study import ABOUT


def publish(study, companions: dict, answer: list[str], effects: list[str], result) -> None:
    """Saves the notes and labels of `study` and of its `companions` ("confirm", "effects":
    a study or None). `answer` is summary.md's answer section (or what stands for it),
    `effects` its effects section; `result` the confirmed answer or None."""
    import optuna_dashboard

    name = study.study_name
    study.set_user_attr(ABOUT, search_label(result))
    optuna_dashboard.save_note(study, note([*search_heading(name, result), *answer, *effects]))
    confirmation = companions.get("confirm")
    if confirmation is not None:
        confirmation.set_user_attr(ABOUT, CONFIRM_LABEL.format(name=name))
        optuna_dashboard.save_note(confirmation, note([*confirm_heading(name), *answer]))
    measured = companions.get("effects")
    if measured is not None:
        measured.set_user_attr(ABOUT, EFFECTS_LABEL.format(name=name))
        optuna_dashboard.save_note(measured, note([*effects_heading(name), *effects]))


CONFIRM_LABEL = (
    "the confirmation of study {name}: its best configurations trained again over fresh "
    "seeds, one trial a run; the confirmed answer is on the Note tab (its Best Trial is one run)"
)
EFFECTS_LABEL = (
    "the effects stage of study {name}: each scientific hyperparameter varied alone around "
    "the confirmed winner, one trial a run; the verdicts are on the Note tab"
)
BEST_TRIAL = (
    "Optuna's Best Trial card on a study's page is one seed's run; the confirmed answer below "
    "is the mean over fresh seeds, as summary.md states it."
)


def search_label(result) -> str:
    """The search's `about`: where its confirmed answer is, and what it is."""
    if result is None:
        return "the search; no confirmed answer yet (see the Note tab)"
    return (
        f"the search; confirmed answer: trial {result.winner.source}'s configuration, objective "
        f"{result.winner.spreads['objective']} over {len(result.winner.seeds)} fresh seeds "
        "(the Note tab has it whole; Best Trial is one seed)"
    )


def search_heading(name: str, result) -> list[str]:
    if result is None:
        return [f"# Study {name}", ""]
    return [f"# Study {name}: the confirmed answer", "", BEST_TRIAL, ""]


def confirm_heading(name: str) -> list[str]:
    return [
        f"# The confirmation of study {name}",
        "",
        "Every trial here is one run of a configuration of the search, with one fresh seed; "
        + BEST_TRIAL,
        "",
    ]


def effects_heading(name: str) -> list[str]:
    return [
        f"# The effects stage of study {name}",
        "",
        "Every trial here is one run of one variant around the confirmed winner, with one "
        "fresh seed; the verdicts below are summary.md's.",
        "",
    ]


def note(lines: list[str]) -> str:
    """The note's markdown: the lines as they are, without the report's figures."""
    return "\n".join(line for line in lines if not line.startswith("!["))
