"""The benchmarks' command lines, on the rules of `studies.run`.

Options are matched exactly, values are typed and bounded (the value types are
`studies.cli`'s), a refused command is one line on stderr with exit status 2, and a failure
while running (a file, the data, a study a benchmark started) one line with exit status 1.
Nothing here imports TensorFlow, so `--help` and every refusal answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from kerasnn.config import MAX_EPOCHS
from kerasnn.data import DataError
from studies.cli.options import Parser, positive_int
from studies.errors import RuntimeFault, one_line

# TensorFlow's start-up lines would bury the results; set before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def parser(module: str, description: str | None) -> Parser:
    """The parser of `python -m benchmarks.MODULE`, its module docstring as the description."""
    return Parser(
        prog=f"python -m benchmarks.{module}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )


def within(parser: Parser, option: str, value: int, low: int, high: int) -> None:
    """Refuses `value` of `option` outside [low, high], as argparse refuses a bad type."""
    if not low <= value <= high:
        parser.error(f"argument {option}: expected an integer from {low} to {high}, got {value}")


def add_epochs_option(parser: Parser, *, quick: int, full: int) -> None:
    """--epochs, the same for every benchmark that times steady epochs."""
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help=f"epochs per run, at least 2 (default {full}; {quick} with --quick)",
    )
    parser.set_defaults(quick_epochs=quick, full_epochs=full)


def epochs(args: argparse.Namespace) -> int:
    """The epochs per run `add_epochs_option` parsed (or its default for the run's kind)."""
    return args.epochs or (args.quick_epochs if args.quick else args.full_epochs)


def check_epochs(parser: Parser, args: argparse.Namespace) -> None:
    # The first epoch carries the compile and set-up, so a steady one needs a second.
    within(parser, "--epochs", epochs(args), 2, MAX_EPOCHS)


def require_data_dir(parser: Parser) -> None:
    if not os.environ.get("KERASNN_DATA_DIR"):
        parser.error("set KERASNN_DATA_DIR to the folder holding mnist/ and fashion-mnist/")


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow (every benchmark needs it, if only to name its version) with its
    start-up lines kept off stderr, where a failure must be the one line."""
    # The project's one way of doing so lives in studies.pipeline.
    from studies.pipeline import import_keras_quietly

    import_keras_quietly()


def run(
    parser: Parser,
    argv,
    check: Callable[[Parser, argparse.Namespace], None],
    benchmark: Callable[[argparse.Namespace], None],
) -> int:
    """Parses `argv`, lets `check` refuse what cannot be run, then runs `benchmark(args)`.

    TensorFlow is imported only once the command is known to be good.

    Returns:
        The exit status: 0, 2 for a refused command (argparse exits with it), or 1 for a
        failure met while running, printed as one line: a RuntimeFault (what a benchmark
        raises for a study that failed, in whichever thread it ran), a dataset that cannot
        be read, or a file that cannot be read or written.
    """
    args = parser.parse_args(argv)
    check(parser, args)
    try:
        import_tensorflow_quietly()
        benchmark(args)
    except (RuntimeFault, DataError, OSError) as error:
        print(f"{parser.prog}: error: {one_line(str(error))}", file=sys.stderr)
        return 1
    return 0
