"""The one entry point: `python -m studies.run [STUDY]` runs a study and writes its report.

This module parses the command line and dispatches: a study name to `studies.pipeline`,
whose `run` reads top to bottom (checks -> open or continue the study -> search ->
confirm the best -> report), a group name to each of its studies in turn.
"""

from __future__ import annotations

import os
import sys
import warnings

# Quiet TensorFlow's start-up chatter before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from studies import (  # noqa: E402
    overfitting,
    reproduce_000,
    reproduce_001,
    reproduce_002,
    reproduce_003,
    reproduce_004,
)
from studies.cli.options import parser  # noqa: E402
from studies.errors import RuntimeFault, UsageError, faults_as_one_line, one_line  # noqa: E402
from studies.settings import Settings, from_arguments, precision_warning  # noqa: E402

# Study name -> module. Each module has a docstring, QUESTION and suggest(trial, train_config);
# it may add SEARCH_SPACE (a grid, run by GridSampler), DEFAULTS (option defaults) and
# SCIENTIFIC (the hyperparameters its question is about, for the findings).
STUDIES = {
    "overfitting": overfitting,
    "reproduce-000": reproduce_000,
    "reproduce-001": reproduce_001,
    "reproduce-002": reproduce_002,
    "reproduce-003": reproduce_003,
    "reproduce-004": reproduce_004,
}
# Names that run several studies in turn.
GROUPS: dict[str, list[str]] = {
    "reproduce": [
        "reproduce-000",
        "reproduce-001",
        "reproduce-004",
        "reproduce-003",
        "reproduce-002",
    ],
}


def usage_error(message: str) -> int:
    print(f"python -m studies.run: error: {one_line(message)}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    quiet_warnings()
    if argv[:1] == ["replicate"]:
        from studies.replication import main as replicate

        return replicate(argv[1:])
    try:
        args = parse(argv)
        if args.list:
            for name, module in STUDIES.items():
                print(f"{name:<16} {module.QUESTION}")
            for name, members in GROUPS.items():
                print(f"{name:<16} runs {', '.join(members)}")
            return 0
        return run_settings(checked(args))
    except UsageError as error:
        return usage_error(str(error))
    except RuntimeFault as error:
        print(f"python -m studies.run: error: {one_line(str(error))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Before a study's own handling: while starting up, say.
        print("python -m studies.run: interrupted", file=sys.stderr)
        return 130


def quiet_warnings() -> None:
    """Optuna flags heartbeats, metric names and grouped TPE as experimental; they are used
    on purpose, and the warnings would bury the progress lines."""
    warnings.filterwarnings("ignore", message=".*experimental.*")
    warnings.filterwarnings("ignore", message=".*not compatible with tight_layout.*")


def parse(argv: list[str]):
    """The parsed command line; a bad option is a UsageError (the process is not exited)."""
    return parser(raising=True).parse_args(argv)


def checked(args, *, reading: bool = False) -> list[Settings]:
    """The checked settings of each study the arguments name (a group names several);
    UsageError for anything that cannot run (`reading`: be read, see from_arguments).
    Nothing is written."""
    if args.study not in STUDIES and args.study not in GROUPS:
        raise UsageError(
            f"unknown study {args.study!r}; choose one of {', '.join([*STUDIES, *GROUPS])}"
        )
    names = GROUPS.get(args.study, [args.study])
    if len(names) > 1 and args.study_name:
        raise UsageError("--study-name names one study; it cannot be used with a group")
    if len(names) > 1 and (args.workers or 1) > 1:
        raise UsageError("--workers runs one study; start the group's studies one by one")
    settings = [from_arguments(name, STUDIES[name], args, reading=reading) for name in names]
    if getattr(args, "deprecated_penalty", False):
        print("warning: --penalty is deprecated; use --gap-weight", file=sys.stderr)
    return settings


def run_settings(settings: list[Settings], dataset=None) -> int:
    """Runs each checked study in turn (stopping at the first that fails); the exit status.

    `dataset`: a `kerasnn.Dataset` given in memory (`studies.run_study`), trained on
    instead of the one the settings name."""
    for warning in {precision_warning(one) for one in settings} - {None}:
        print(warning, file=sys.stderr)
    status = 0
    for one in settings:
        status = _run_one(one, STUDIES[one.study], dataset)
        if status:
            break
    if any(one.study.startswith("reproduce-") for one in settings) and not settings[0].no_report:
        # The seed-by-seed comparison is rebuilt from the storage after any reproduce run.
        from studies.reproduction import write_reproduction

        with faults_as_one_line():
            path = write_reproduction(settings[0].storage, settings[0].reports)
        print(f"reproduction written: {path}")
    return status


def _run_one(settings: Settings, module, dataset=None) -> int:
    """One study: its report alone with --report-only, else the whole pipeline."""
    from studies import pipeline

    with faults_as_one_line():
        if settings.report_only:
            return pipeline.rebuild_report(settings, module)
        return pipeline.run(settings, module, dataset)


if __name__ == "__main__":
    # The command line draws into files only: no display is wanted, whatever the machine has.
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.exit(main())
