"""A study from Python: `run_study` runs one as the command line does, `open_study` reads one.

    from studies import run_study

    result = run_study(subset=2000, trials=3, epochs=2)
    print(result.answer)
    model = result.load_winner()
    figure = result.figure("curves")

The options are the command line's, as keyword arguments (`--confirm-seeds 2` is
`confirm_seeds=2`), parsed and checked by the same code: a bad one raises `UsageError` (a
ValueError) with the line the command line prints, before anything is written. Progress
goes to the logger "studies" (see `studies.engine.progress`): a bar in a notebook or a
terminal, lines elsewhere, neither with `progress=False`. In a notebook a result and its
answer display themselves as summary.md opens. Importing this module is cheap: TensorFlow and
Optuna are imported when a study is run or read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from pathlib import Path
from typing import Any

from studies.errors import RuntimeFault, UsageError, one_line

# Options that are not a study's: they would print and exit instead of running one.
NOT_OPTIONS = ("help", "list")


@dataclasses.dataclass(frozen=True)
class StudyAnswer:
    """The confirmed answer: the winning configuration and its figures over fresh seeds.

    Each figure is a `kerasnn.stats.Spread`: `mean`, `sd`, `n` runs and the 95% interval
    of the mean, `low` to `high`.
    """

    trial: int  # The search trial whose configuration won.
    params: dict[str, Any]  # Its hyperparameters.
    seeds: list[int]  # The fresh seeds of its confirmation runs.
    objective: Any
    val_accuracy: Any
    gap: Any
    test_accuracy: Any | None  # Evaluated once, for the winner only; None when not yet.
    tied: list[int]  # Search trials whose configuration is tied with it within seed noise.
    undecided: list[int]  # Runners-up with fewer than two runs a side.
    seed_noise: float  # The pooled seed standard deviation of the objective.
    configurations: list[Any]  # Every confirmed configuration, winner first (engine's).
    # The confirmation's answer it was made from, which summary.md's writer words.
    _answer: Any = dataclasses.field(default=None, repr=False, compare=False)

    @classmethod
    def from_answer(cls, answer) -> StudyAnswer:
        """From the confirmation's `studies.engine.confirm.Answer`."""
        winner = answer.winner
        return cls(
            trial=winner.source,
            params=dict(winner.params),
            seeds=list(winner.seeds),
            objective=winner.spreads["objective"],
            val_accuracy=winner.spreads["val_accuracy"],
            gap=winner.spreads["gap"],
            test_accuracy=answer.test,
            tied=[c.source for c in answer.tied],
            undecided=[c.source for c in answer.undecided],
            seed_noise=answer.seed_noise,
            configurations=list(answer.configurations),
            _answer=answer,
        )

    def __str__(self) -> str:
        """The answer as summary.md opens with it, as plain text."""
        from studies.report.closing import plain
        from studies.report.summary import opening_lines

        return "\n".join(plain(opening_lines(self._answer)))

    def __repr__(self) -> str:
        tied = ", ".join(map(str, self.tied)) or "none"
        return f"<StudyAnswer: trial {self.trial}, objective {self.objective}, tied: {tied}>"

    def _repr_markdown_(self) -> str:
        """A notebook's display: summary.md's opening and the confirmed configurations."""
        from studies.report.closing import markdown

        return markdown(self._answer)


@dataclasses.dataclass(frozen=True, eq=False)
class StudyResult:
    """A study as its report sees it, read from its storage.

    `trials` is the ranked table of the search (trials.csv), `confirmation` every
    confirmation run (confirm.csv) and `effects` every run of the effects stage
    (effects.csv); a stage that did not run is an empty frame. `answer` is None without a
    confirmed answer.
    """

    study_name: str
    answer: StudyAnswer | None
    trials: Any  # pandas.DataFrame
    confirmation: Any  # pandas.DataFrame
    effects: Any  # pandas.DataFrame
    report_dir: Path  # Absolute.
    # What the study was read with, to draw its figures again.
    _settings: Any = dataclasses.field(default=None, repr=False)

    def __repr__(self) -> str:
        answer = "none" if self.answer is None else f"trial {self.answer.trial}"
        return (
            f"<StudyResult {self.study_name!r}: {len(self.trials)} search trials, answer "
            f"{answer}, report in {self.report_dir}>"
        )

    def _repr_markdown_(self) -> str:
        """A notebook's display: the answer as summary.md opens, and where the rest is."""
        from studies.report.closing import NO_ANSWER
        from studies.report.gallery import FIGURES

        answer = NO_ANSWER if self.answer is None else self.answer._repr_markdown_()
        names = ", ".join(f'"{name}"' for name in FIGURES)
        return (
            f"**Study `{self.study_name}`**\n\n{answer}\n\nThe report: "
            f"`{self.report_dir / 'summary.md'}`; its figures: `.figure(name)`, name one of "
            f"{names}.\n"
        )

    def figure(self, name: str):
        """The report's figure `name` as a matplotlib `Figure`, drawn afresh from the stored
        runs (not read from its PNG): "history", "importances", "slices", "curves",
        "weights", "findings", "effects" or, for a Pareto study, "pareto".

        Raises:
            ValueError for a name the report does not draw, or one this study has no runs
            for (an effects figure without an effects stage); UsageError when the storage
            cannot be read any more.
        """
        from studies.report import gallery

        gallery.check(name)
        with _as_a_guest(), _as_the_command_line_says():
            study, storage = _open(self._settings)
            return gallery.draw(name, study, storage, self._settings, _module(self._settings))

    def load_winner(self):
        """The confirmed winner's network from `report_dir/winner.keras`, as a Keras model.

        Raises:
            FileNotFoundError when the report has no winner.keras.
        """
        import keras

        path = self.report_dir / "winner.keras"
        if not path.is_file():
            raise FileNotFoundError(
                f"no winner.keras in {self.report_dir}: the study has no confirmed answer with "
                "stored weights, or its report was not written here (report_only=True writes it)"
            )
        return keras.saving.load_model(path)

    def answer_json(self) -> dict | None:
        """The report's answer.json (the answer as data, see docs/studies.md), checked; None
        when the report has none.

        Raises:
            UsageError when the file was edited or damaged.
        """
        from studies.report import answer_file

        if not (self.report_dir / answer_file.FILENAME).is_file():
            return None
        return answer_file.read(self.report_dir)


def run_study(name: str = "overfitting", *, progress: bool = True, **options) -> StudyResult:
    """Runs study `name` as `python -m studies.run NAME --OPTION VALUE ...` does, report
    included, and returns what it found.

    Args:
        name: a study (see `python -m studies.run --list`); one study, not a group.
        progress: False shows no progress, as `--no-progress` (a bar in a notebook or a
            terminal, lines elsewhere); what goes wrong is still said.
        **options: the command line's options by name (`trials=3`, `confirm_seeds=2`,
            `storage="reports/mine.log"`, `fresh=True`); None or False leave one out.
            `dataset` is a name, a path, or a `kerasnn.Dataset` (`Dataset.from_arrays`),
            which the study trains on as given (its name names the study).

    Raises:
        UsageError (a ValueError) with the command line's message for a bad option, before
        anything is written; RuntimeFault (a RuntimeError) for a failure while running;
        KeyboardInterrupt when the run was stopped by a signal.
    """
    from studies import run

    if not progress:
        options = {**options, "no_progress": True}
    with _as_a_guest(), _as_the_command_line_says():
        arrays = options.get("dataset") if _is_dataset(options.get("dataset")) else None
        settings = _checked(name, options)
        with warnings.catch_warnings():
            run.quiet_warnings()
            status = run.run_settings([settings], dataset=arrays)
        if status == 130:
            raise KeyboardInterrupt(f"study {settings.study_name!r} was interrupted")
        if status:
            raise RuntimeFault(
                f"study {settings.study_name!r} ended with exit status {status}: too many "
                "trials failed in a row, no configuration could be confirmed, or a worker "
                "failed (its progress lines say which)"
            )
        return _read(settings)


def open_study(name: str = "overfitting", **options) -> StudyResult:
    """A stored study, as `run_study` returns it, without training or changing anything.

    Args:
        name: the study module, used when the stored study does not record its own.
        **options: as for `run_study`; `storage` and `study_name` say which study
            (`study_name` defaults to the name `run_study` would give the options), and
            `reports` where its report is. The answer is the one of the plans the study
            recorded, whatever the other options say.

    Raises:
        UsageError for a bad option, a storage that cannot be read or a study it lacks.
    """
    with _as_a_guest(), _as_the_command_line_says():
        return _read(_checked(name, options, reading=True))


@contextlib.contextmanager
def _as_a_guest():
    """Leaves the process's Optuna as it was: its log's verbosity, which a run lowers (the
    progress says what its log would), is restored; tqdm, which Optuna imports, is imported
    first without its notebook warning."""
    from studies.engine.progress_bar import import_tqdm_quietly

    import_tqdm_quietly()
    import optuna

    verbosity = optuna.logging.get_verbosity()
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


@contextlib.contextmanager
def _as_the_command_line_says():
    """A usage error or a fault carries the line the command line prints: one line, with
    any storage password hidden."""
    try:
        yield
    except (UsageError, RuntimeFault) as error:
        raise type(error)(one_line(str(error))) from None


def command_line(name: str, options: dict[str, Any]) -> list[str]:
    """The command-line words of study `name` and keyword `options`."""
    from studies.arguments import option_words

    refused = [key for key in options if key in NOT_OPTIONS]
    if refused:
        raise UsageError(f"{refused[0]!r} is an option of the command line only")
    return [name, *(word for key, value in options.items() for word in option_words(key, value))]


def _checked(name: str, options: dict[str, Any], reading: bool = False):
    """The checked settings of study `name` with `options`, as the command line checks
    them; UsageError for anything it refuses, and for a group of studies."""
    from studies import run

    if not isinstance(name, str):
        raise UsageError(f"a study is named by a string (see --list), got {name!r}")
    arrays = options.get("dataset") if _is_dataset(options.get("dataset")) else None
    if arrays is not None:
        options = {**options, "dataset": None}
    # Parsed in a study name's place, set after: a name that reads like an option ("-h") is
    # still a name, and an option's error reads as the command line's.
    args = run.parse(command_line("overfitting", options))
    args.study, args.list = name, False
    settings = run.checked(args, reading=reading)
    if len(settings) > 1:
        members = ", ".join(one.study for one in settings)
        raise UsageError(f"{name!r} is a group of studies; run each in turn: {members}")
    if arrays is None:
        return settings[0]
    return _on_arrays(settings[0], arrays, named="study_name" in options)


def _is_dataset(value) -> bool:
    from kerasnn.data import Dataset

    return isinstance(value, Dataset)


def _on_arrays(settings, arrays, *, named: bool):
    """`settings` for a study of a `Dataset` given in memory: named after it (unless
    `study_name` was given); its workers could not share the arrays, so there is one."""
    from studies import run
    from studies.settings import default_study_name, study_defaults

    if settings.workers > 1:
        raise UsageError(
            "workers are processes of their own and cannot share arrays given in memory: "
            "save them with numpy.savez and pass the file's path as dataset"
        )
    settings = dataclasses.replace(settings, dataset=arrays.name)
    if named:
        return settings
    defaults = dataclasses.replace(
        study_defaults(run.STUDIES[settings.study]), study=settings.study
    )
    return dataclasses.replace(settings, study_name=default_study_name(settings, defaults))


def _read(settings) -> StudyResult:
    """The stored study of `settings`, read only."""
    study, storage = _open(settings)
    return _result(study, storage, settings)


def _module(settings):
    from studies import run

    return run.STUDIES[settings.study]


def _open(settings):
    """The stored study of `settings` and its storage, opened for reading; UsageError when
    either is not there."""
    import optuna

    from studies.engine.study import stored_study
    from studies.pipeline import quiet_optuna
    from studies.storage import StorageError, exists, open_for_reading, redact

    quiet_optuna()
    if not exists(settings.storage):
        raise UsageError(f"no storage at {redact(settings.storage)}")
    try:
        storage = open_for_reading(settings.storage)
    except StorageError as error:
        raise UsageError(str(error)) from None
    if stored_study(storage, settings.study_name) is None:
        raise UsageError(f"no study {settings.study_name!r} in {redact(settings.storage)}")
    return optuna.load_study(study_name=settings.study_name, storage=storage), storage


def _result(study, storage, settings) -> StudyResult:
    import pandas as pd

    from studies.engine import confirm, effects, plans
    from studies.report.table import planned_table, ranked_table

    confirmation = confirm.load_confirmation(storage, study.study_name)
    answer = None if confirmation is None else confirm.answer(study, confirmation)
    varied = plans.load_companion(storage, study.study_name, effects.STAGE_NAME)
    return StudyResult(
        study_name=study.study_name,
        answer=None if answer is None else StudyAnswer.from_answer(answer),
        trials=ranked_table(study),
        confirmation=pd.DataFrame()
        if confirmation is None
        else planned_table(confirmation, ["source_trial", "seed"]),
        effects=pd.DataFrame()
        if varied is None
        else planned_table(varied, ["source_trial", "variant", "seed"]),
        report_dir=settings.folder.absolute(),
        # Absolute, so that its figures are found after a change of working folder.
        _settings=dataclasses.replace(settings, reports=str(Path(settings.reports).absolute())),
    )
