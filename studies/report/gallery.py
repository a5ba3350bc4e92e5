"""The report's figures by name, drawn afresh from the stored runs as matplotlib `Figure`s.

The same drawing functions make the report's PNG files; here a figure is returned instead,
for `StudyResult.figure(name)`. A figure the report draws as a note of why it could not be
drawn (too few trials) is that note here too.
"""

from __future__ import annotations

# Each name is the report's file without ".png".
FIGURES = (
    "history",
    "importances",
    "slices",
    "pareto",
    "curves",
    "weights",
    "findings",
    "effects",
)


def check(name: str) -> None:
    """ValueError unless the report draws a figure called `name`."""
    if name not in FIGURES:
        raise ValueError(f"no figure {name!r}; a study's report draws {', '.join(FIGURES)}")


def draw(name: str, study, storage, settings, module):
    """Figure `name` (one of FIGURES) of `study`, as its report draws it; ValueError where
    the study has nothing to draw it from."""
    check(name)
    from studies.report import figures

    notes: list[str] = []
    if name in ("history", "importances", "slices", "pareto"):
        if name not in figures.optuna_names(study):
            raise ValueError(f"no {name} figure: it is drawn for --objective pareto only")
        return figures.optuna_figure(study, name, notes)
    if name == "curves":
        from studies.report.table import ranked_table

        return figures.curves_figure(study, ranked_table(study), notes)
    if name == "weights":
        from studies.engine.ranking import recommended

        return figures.weights_figure(storage, recommended(study), settings, notes)
    if name == "findings":
        return _findings(study, storage, module)
    return _effects(study, storage, module)


def _findings(study, storage, module):
    from studies.report import findings
    from studies.report.closing import confirmed_answer

    scientific = list(getattr(module, "SCIENTIFIC", ()))
    frame = findings.completed(study)
    if not scientific or len(frame) < 2:
        raise ValueError(
            "no findings figure: it needs two completed search trials of a study that names "
            "its scientific hyperparameters"
        )
    _, answer = confirmed_answer(study, storage)
    confirmed = [c.source for c in answer.configurations] if answer else []
    return findings.plot_findings(frame, scientific, confirmed)


def _effects(study, storage, module):
    from studies.engine import effects, plans
    from studies.report import effects as effects_report

    companion = plans.load_companion(storage, study.study_name, effects.STAGE_NAME)
    if companion is None:
        raise ValueError("no effects figure: the study has no effects stage (effects_seeds=N)")
    measured = effects.results(companion, study, module)
    if measured is None:
        raise ValueError("no effects figure: the effects stage has no complete run yet")
    return effects_report.plot(measured)
