"""`python -m studies.run replicate REPORT`: does a report's confirmed answer hold on this machine?

A rerun of a study reproduces its every digit only on the same processor model and library
versions: elsewhere the kernels round differently, the search's path changes and another
configuration may come out on top, tied with the first within seed noise. The honest test
of an answer on another machine is then to train the confirmed winner, and each
configuration tied with it, again here over fresh seeds (ones the study never used), and
compare each with the report's own confirmation runs by the project's one rule
(`kerasnn.stats.compare`, Welch's t-test). Everything needed is in the report's answer.json:
no storage.

The result is printed and written as `replication-<UTC time>.md` and `.json` into the
report's folder (or the folder `--out` names), with the machine of each side.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import sys
import tempfile
from pathlib import Path

from studies.errors import UsageError

PROG = "python -m studies.run replicate"
# What a replication concludes, from its configurations' outcomes.
VERDICTS = {
    "tied": "replicates here: every configuration is tied with the report's runs",
    "differs": "differs here: a configuration's runs are told apart from the report's",
    "undecided": "undecided: fewer than two runs a side",
}


@dataclasses.dataclass(frozen=True)
class Replicated:
    """One configuration trained again here: its runs and how they compare with the report's."""

    trial: int
    seeds: list[int]
    objectives: list[float]  # One per seed, in the order of `seeds`.
    reported: list[float]  # The report's confirmation runs' objectives.
    comparison: object  # kerasnn.stats.Comparison of the report's runs against these.

    @property
    def outcome(self) -> str:
        """ "tied", "differs" or "undecided"."""
        if self.comparison.outcome in ("tied", "undecided"):
            return self.comparison.outcome
        return "differs"


@dataclasses.dataclass(frozen=True)
class Replication:
    """A report's answer trained again on this machine."""

    report: Path
    study: str
    configurations: list[Replicated]  # The winner first, then each tied configuration.
    reported_machine: dict
    this_machine: dict
    written: list[Path]

    @property
    def verdict(self) -> str:
        """ "differs" when any configuration differs, else "undecided" when any is, else
        "tied": the answer replicates here."""
        outcomes = {configuration.outcome for configuration in self.configurations}
        for verdict in ("differs", "undecided"):
            if verdict in outcomes:
                return verdict
        return "tied"


def replicate(report, seeds: int | None = None, out=None, say=print) -> Replication:
    """Trains the confirmed winner of `report` (a report folder) and each configuration tied
    with it over `seeds` fresh seeds each (default: as many as the winner's confirmation
    runs), compares them with the report's runs and writes the result into `out` (default:
    the report folder).

    Raises:
        UsageError (a ValueError) with one line, before anything is trained or written, for
        a folder without answer.json, a damaged or edited one, a dataset this machine lacks,
        a bad `seeds` or an `out` that is not a folder.
    """
    from studies.report import answer_file, machine

    report = Path(report)
    content = answer_file.read(report)
    count = _seed_count(seeds, content)
    destination = _destination(report if out is None else Path(out))
    from studies.pipeline import import_keras_quietly

    import_keras_quietly()  # Before the data and the runs, which bring TensorFlow in.
    dataset = _dataset(content)
    fresh = fresh_seeds(content["seeds"]["taken"], count)
    chosen = [c for c in content["configurations"] if c["trial"] in _replicated(content)]
    say(
        f"replicating {content['study']}: trial(s) {', '.join(str(c['trial']) for c in chosen)} "
        f"over the fresh seeds {', '.join(map(str, fresh))} on this machine"
    )
    configurations = [
        _train(configuration, fresh, content, dataset, say) for configuration in chosen
    ]
    result = Replication(
        report, content["study"], configurations, content["machine"], machine.description(), []
    )
    written = _write(result, destination)
    result = dataclasses.replace(result, written=written)
    for line in lines(result):
        say(line)
    return result


def _replicated(content: dict) -> list[int]:
    return [content["winner"], *content["tied"]]


def fresh_seeds(taken, count: int) -> list[int]:
    """The `count` smallest positive seeds the study never used."""
    used, seeds, candidate = set(taken), [], 1
    while len(seeds) < count:
        if candidate not in used:
            seeds.append(candidate)
        candidate += 1
    return seeds


def _seed_count(seeds, content: dict) -> int:
    if seeds is None:
        return len(content["configurations"][0]["runs"])
    if type(seeds) is not int or not 1 <= seeds <= 100:
        raise UsageError(f"--seeds must be a whole number from 1 to 100, got {seeds!r}")
    return seeds


def _destination(folder: Path) -> Path:
    if not folder.is_dir():
        raise UsageError(f"--out {folder}: no such folder")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"--out {folder}: not writable")
    return folder


def _dataset(content: dict):
    """The report's dataset, as its study loaded it; a dataset this machine lacks is a
    UsageError."""
    from kerasnn.data import DataError, load_dataset

    try:
        dataset = load_dataset(content["dataset"], scale=content["scale"])
    except (DataError, OSError) as error:
        raise UsageError(f"this machine lacks the dataset {content['dataset']}: {error}") from None
    if content["subset"] is not None:
        dataset = dataset.subset(content["subset"])
    return dataset


def _train(configuration: dict, seeds: list[int], content: dict, dataset, say) -> Replicated:
    """Trains one configuration at every seed by the study's one run path (an in-memory
    study records each run as a confirmation run is recorded)."""
    import optuna

    from kerasnn import DivergedError, ModelConfig, TrainConfig, stats
    from studies.engine.runs import Job, execute
    from studies.pipeline import import_keras_quietly, quiet_optuna

    import_keras_quietly()
    quiet_optuna()
    study = optuna.create_study(direction="maximize")
    objectives, trained = [], []
    with tempfile.TemporaryDirectory() as artifacts:
        for seed in seeds:
            job = Job(
                ModelConfig(**configuration["model_config"]),
                TrainConfig(**configuration["train_config"], seed=seed),
                gap_weight=content["gap_weight"],
                prunable=False,
            )
            trial = study.ask()
            try:
                study.tell(trial, execute(trial, job, dataset, Path(artifacts)))
            except DivergedError as error:  # A run that diverged has no objective.
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                say(f"  trial {configuration['trial']}, seed {seed}: {error}")
                continue
            objectives.append(float(study.trials[-1].user_attrs["objective"]))
            trained.append(seed)
            say(f"  trial {configuration['trial']}, seed {seed}: objective {objectives[-1]:.4f}")
    reported = [run["objective"] for run in configuration["runs"]]
    if objectives:
        comparison = stats.compare(reported, objectives)
    else:  # Every run diverged: nothing here to compare.
        nan = math.nan
        comparison = stats.Comparison(nan, nan, nan, nan, "undecided", (len(reported), 0))
    return Replicated(configuration["trial"], trained, objectives, reported, comparison)


def lines(result: Replication) -> list[str]:
    """The replication in words: the verdict, each configuration, the machine of each side."""
    from studies.report import machine

    rows = [
        f"- trial {c.trial}: objective reported {_shown(c.reported)}, here "
        f"{_shown(c.objectives)}: {c.outcome} (the report's runs are {c.comparison.verdict()})"
        for c in result.configurations
    ]
    return [
        f"# Replication of {result.study}",
        "",
        f"The answer {VERDICTS[result.verdict]}.",
        "",
        *rows,
        "",
        "The report's machine:",
        *machine.lines(result.reported_machine),
        "",
        "This machine:",
        *machine.lines(result.this_machine),
    ]


def _shown(objectives: list[float]) -> str:
    """Runs' objectives as "mean ± sd (n runs)"."""
    from kerasnn import stats

    if not objectives:
        return "no complete run"
    spread = stats.spread(objectives)
    return str(spread) if spread.n < 2 else f"{spread} ({spread.n} runs)"


def _write(result: Replication, folder: Path) -> list[Path]:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    markdown = folder / f"replication-{stamp}.md"
    data = folder / f"replication-{stamp}.json"
    markdown.write_text("\n".join(lines(result)) + "\n")
    data.write_text(json.dumps(as_data(result), indent=2) + "\n")
    return [markdown, data]


def as_data(result: Replication) -> dict:
    """The replication as answer.json's tools read data."""
    return {
        "study": result.study,
        "verdict": result.verdict,
        "configurations": [
            {
                "trial": c.trial,
                "seeds": c.seeds,
                "objectives": c.objectives,
                "reported": c.reported,
                "outcome": c.outcome,
                "comparison": {
                    key: None if isinstance(value, float) and math.isnan(value) else value
                    for key, value in dataclasses.asdict(c.comparison).items()
                },
            }
            for c in result.configurations
        ],
        "reported_machine": result.reported_machine,
        "this_machine": result.this_machine,
    }


def parser() -> argparse.ArgumentParser:
    command = argparse.ArgumentParser(
        prog=PROG,
        description="Train a report's confirmed winner and each configuration tied with it "
        "again on this machine over fresh seeds, and say whether the answer replicates here.",
    )
    command.add_argument("report", type=Path, help="a report folder holding answer.json")
    command.add_argument(
        "--seeds", type=int, help="fresh seeds per configuration (default: the report's count)"
    )
    command.add_argument(
        "--out", type=Path, help="folder for replication-<time>.md/.json (default: the report's)"
    )
    return command


def main(argv: list[str]) -> int:
    """The command line; the exit status (2 for a usage error, nothing written)."""
    from studies.errors import one_line

    try:
        args = parser().parse_args(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    try:
        replicate(args.report, args.seeds, args.out)
    except UsageError as error:
        print(f"{PROG}: error: {one_line(str(error))}", file=sys.stderr)
        return 2
    return 0
