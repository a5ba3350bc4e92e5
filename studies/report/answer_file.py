"""answer.json: the confirmed answer for tools and for a replication on another machine.

It holds what the answer section of summary.md says, as data: the winner and every
confirmed configuration (parameters, the network and training configurations their runs
were trained with, each run's figures, their spreads and how each compares with the
winner), the seeds every stage used, winner.keras's run and input, the machine and library
versions, and the command. A replication needs nothing else (no storage). A checksum of the
content tells a file edited by hand (or damaged) from one a report wrote.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from pathlib import Path

from studies.errors import UsageError

FILENAME = "answer.json"
FORMAT = 1
# The figures of each run, as the confirmation stores them.
MEASURES = ("objective", "val_accuracy", "gap")

# Writing needs the study's engine (and so Keras); reading, as a replication's usage errors
# do, needs neither: the engine is imported by the functions that write.


def record(study, storage, settings, result, folder: Path) -> dict:
    """answer.json's content (without its checksum) for the confirmed answer `result` (a
    `studies.engine.confirm.Answer`)."""
    from studies.engine import confirm
    from studies.report import machine

    confirmation = confirm.load_confirmation(storage, study.study_name)
    grouped = confirm.runs_by_source(study, confirmation)
    attrs = study.user_attrs
    return {
        "format": FORMAT,
        "study": study.study_name,
        "module": settings.study,
        "question": attrs.get("question", ""),
        "dataset": settings.dataset,
        "subset": settings.subset,
        "scale": settings.scale,
        "gap_weight": settings.gap_weight,
        "winner": result.winner.source,
        "configurations": [
            _configuration(c, grouped[c.source], confirmation) for c in result.configurations
        ],
        "tied": [c.source for c in result.tied],
        "undecided": [c.source for c in result.undecided],
        "seed_noise": _number(result.seed_noise),
        "test_accuracy": _spread(result.test),
        "seeds": _seeds(study, storage),
        "winner_file": _winner_file(study, confirmation, result, settings, folder),
        "machine": attrs.get("machine") or machine.description(),
        "machine_recorded": "machine" in attrs,
        "command": attrs.get("command", ""),
    }


def _configuration(confirmed, runs, confirmation) -> dict:
    """One confirmed configuration: what trains it again, its runs and its comparison."""
    ordered = sorted(runs, key=lambda run: int(run.user_attrs["seed"]))
    train_config = dict(ordered[0].user_attrs["train_config"])
    train_config.pop("seed", None)  # Each run's own, listed with its figures.
    versus = confirmed.versus_winner
    return {
        "trial": confirmed.source,
        "params": confirmed.params,
        "model_config": ordered[0].user_attrs["model_config"],
        "train_config": train_config,
        "runs": [_run(run, confirmed.source, confirmation) for run in ordered],
        **{key: _spread(spread) for key, spread in confirmed.spreads.items()},
        "versus_winner": None
        if versus is None
        else {
            "outcome": versus.outcome,
            "difference": _number(versus.difference),
            "low": _number(versus.low),
            "high": _number(versus.high),
            "p_value": _number(versus.p_value),
        },
    }


def _run(run, source: int, confirmation) -> dict:
    from studies.engine import confirm

    seed = int(run.user_attrs["seed"])
    figures = {key: run.user_attrs[key] for key in MEASURES}
    tested = confirm.run_test_accuracy(confirmation, source, seed)
    return {"seed": seed, "number": run.number, **figures, "test_accuracy": tested}


def _winner_file(study, confirmation, result, settings, folder: Path) -> dict | None:
    """winner.keras: the run it holds, that run's figures and the images it takes; None
    when the report could not write it."""
    from studies.engine import confirm
    from studies.engine import winner_model as winner
    from studies.report.winner import raw_input, stated_contract

    if not (folder / winner.FILENAME).is_file():
        return None
    run = winner.median_run(study, confirmation, result)
    seed = int(run.user_attrs["seed"])
    return {
        "name": winner.FILENAME,
        "confirmation_run": run.number,
        "seed": seed,
        "val_accuracy": run.user_attrs["val_accuracy"],
        "test_accuracy": confirm.run_test_accuracy(confirmation, result.winner.source, seed),
        "input": stated_contract(run, raw_input(study, settings))[0],
    }


def _seeds(study, storage) -> dict:
    """The seeds each stage used, and every seed taken (the search's too): a replication
    trains with others."""
    from studies.engine import plans
    from studies.engine.study import COMPANIONS

    stages = {}
    for name in COMPANIONS:
        plan = plans.recorded_plan(plans.load_companion(storage, study.study_name, name))
        stages[name] = list(plan.seeds) if plan else []
    searched = {
        trial.user_attrs.get("train_config", {}).get("seed")
        for trial in study.get_trials(deepcopy=False)
    }
    taken = sorted({seed for seed in searched if isinstance(seed, int)}.union(*stages.values()))
    return {**stages, "taken": taken}


def _spread(spread) -> dict | None:
    if spread is None:
        return None
    return {key: _number(value) for key, value in dataclasses.asdict(spread).items()}


def _number(value):
    """JSON has no NaN: an undefined figure (one run's spread) is null."""
    return None if isinstance(value, float) and math.isnan(value) else value


def checksum(content: dict) -> str:
    """The SHA-256 of the content (its checksum left out), keys sorted."""
    body = {key: value for key, value in content.items() if key != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _checksum_of(content: dict) -> str | None:
    """The checksum of content read back; None for content no report writes (a NaN)."""
    try:
        return checksum(content)
    except ValueError:
        return None


def write(folder: Path, content: dict) -> Path:
    """Writes `content` with its checksum to folder/answer.json, whole or not at all."""
    path = folder / FILENAME
    sealed = {**content, "checksum": checksum(content)}
    temporary = path.with_name(f".{FILENAME}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(sealed, indent=2, allow_nan=False) + "\n")
    os.replace(temporary, path)
    return path


def read(folder: Path) -> dict:
    """The checked content of folder/answer.json.

    Raises:
        UsageError with one line when the file is missing, is not JSON, was edited or
        damaged (its checksum does not match), or holds a value of the wrong kind.
    """
    path = Path(folder) / FILENAME
    if not path.is_file():
        raise UsageError(
            f"no {FILENAME} in {folder}: a report written by a study with a confirmed answer "
            "has one"
        )
    try:
        content = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"{path} is damaged: not a JSON document ({error})") from None
    if not isinstance(content, dict) or content.get("checksum") != _checksum_of(content):
        raise UsageError(
            f"{path} was edited or damaged: its checksum does not match its content (write "
            "the report again with --report-only)"
        )
    try:
        check(content)
    except (KeyError, TypeError, ValueError) as error:
        raise UsageError(f"{path} holds a bad value: {error}") from None
    return content


def check(content: dict) -> None:
    """Raises ValueError (or KeyError, TypeError) naming the first value of the wrong kind:
    what a replication reads must be what a report writes."""
    from kerasnn import ModelConfig, TrainConfig
    from kerasnn.data import DATASETS, SCALES

    if content["format"] != FORMAT:
        raise ValueError(f"format {content['format']!r} (this version reads {FORMAT})")
    _expect(content["dataset"] in DATASETS, f"dataset {content['dataset']!r}")
    _expect(content["scale"] in SCALES, f"scale {content['scale']!r}")
    _expect(content["subset"] is None or _count(content["subset"]), "subset")
    _expect(_finite(content["gap_weight"]) and content["gap_weight"] >= 0, "gap_weight")
    configurations = content["configurations"]
    _expect(isinstance(configurations, list) and configurations, "configurations")
    for configuration in configurations:
        _expect(_count(configuration["trial"]), "a configuration's trial")
        ModelConfig(**configuration["model_config"])
        TrainConfig(**configuration["train_config"])
        runs = configuration["runs"]
        _expect(isinstance(runs, list) and runs, f"trial {configuration['trial']}'s runs")
        for run in runs:
            _expect(_count(run["seed"]), "a run's seed")
            _expect(_finite(run["objective"]) and run["objective"] <= 1, "a run's objective")
            _expect(
                _finite(run["val_accuracy"]) and 0 <= run["val_accuracy"] <= 1,
                "a run's val_accuracy",
            )
            _expect(_finite(run["gap"]) and -1 <= run["gap"] <= 1, "a run's gap")
    _expect(configurations[0]["trial"] == content["winner"], "winner")
    trials = {configuration["trial"] for configuration in configurations}
    _expect(set(content["tied"]) <= trials, "tied")
    _expect(all(_count(seed) for seed in content["seeds"]["taken"]), "seeds")
    machine = content["machine"]
    named = [machine["processor"], machine["bfloat16"], *machine["versions"].values()]
    _expect(all(isinstance(text, str) for text in named), "machine")


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise ValueError(f"{what} is not what a report writes")


def _count(value) -> bool:
    return type(value) is int and value >= 0


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
