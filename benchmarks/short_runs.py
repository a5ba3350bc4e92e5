"""Short runs: XLA against TensorFlow's graph for a run's first epochs on new shapes.

    python -m benchmarks.short_runs [--repeats 3] [--quick]

`kerasnn.compiled` compiles each new network shape once. XLA's program takes longer to build
than TensorFlow's graph and then runs small batches faster, so a short run can cost more
with XLA than its steps save. Each case here trains one run from start to end (`kerasnn.train`,
float32, the run's steps being its epochs times its batches an epoch) on a network shape no
earlier run of the process compiled, once with each path, in turn, `--repeats` times (a
new hidden width each time, so that every run compiles). It prints each path's seconds and
which path `compiled.uses_xla` takes for the run (`XLA_FROM_STEPS`).
"""

from __future__ import annotations

import statistics
import sys
import time

from benchmarks import cli, report
from studies.cli.options import positive_int

# (training images, epochs, batch size, hidden units): a small study's runs, and longer ones.
CASES = (
    (1000, 1, 144, 463),
    (4000, 3, 144, 463),
    (10000, 2, 96, 44),
    (10000, 2, 32, 300),
    (40000, 2, 144, 463),
    (40000, 2, 32, 300),
)
QUICK_CASES = CASES[:2]
MAX_REPEATS = 20


def one_run(dataset, epochs: int, batch: int, hidden: int, xla: bool) -> tuple[float, float]:
    """Wall and CPU seconds of one run on a new shape, on the path asked for."""
    from kerasnn import ModelConfig, TrainConfig, compiled, train

    rule, compiled.XLA_FROM_STEPS = compiled.XLA_FROM_STEPS, 0 if xla else sys.maxsize
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        config = TrainConfig(batch_size=batch, epochs=epochs, early_stopping_patience=None)
        train(ModelConfig(hidden_units=hidden), config, dataset, test=False)
        return time.perf_counter() - wall, time.process_time() - cpu
    finally:
        compiled.XLA_FROM_STEPS = rule


def measure_case(full, case, repeats: int, offset: int) -> dict:
    from kerasnn import compiled

    images, epochs, batch, hidden = case
    dataset = full.subset(images)
    train_size = len(dataset.y_train)
    steps = epochs * -(-train_size // batch)
    seconds = {True: [], False: []}
    for repeat in range(repeats):
        for xla in (True, False):
            width = hidden + offset + 2 * repeat + xla  # A shape no run compiled before.
            seconds[xla].append(one_run(dataset, epochs, batch, width, xla))
    xla_cpu, graph_cpu = ([cpu for _, cpu in seconds[path]] for path in (True, False))
    return {
        "train_images": train_size,
        "epochs": epochs,
        "batch_size": batch,
        "hidden_units": hidden,
        "steps": steps,
        "rule_path": "XLA" if compiled.uses_xla(batch, ["float32"], steps) else "graph",
        "xla_cpu_s": statistics.median(xla_cpu),
        "graph_cpu_s": statistics.median(graph_cpu),
        "xla_cpu_range": (min(xla_cpu), max(xla_cpu)),
        "graph_cpu_range": (min(graph_cpu), max(graph_cpu)),
        "xla_wall_s": statistics.median(wall for wall, _ in seconds[True]),
        "graph_wall_s": statistics.median(wall for wall, _ in seconds[False]),
    }


def faster(row: dict) -> str:
    """Which path took less CPU, or "tie" where their ranges over the repeats overlap."""
    (xla_low, xla_high), (graph_low, graph_high) = row["xla_cpu_range"], row["graph_cpu_range"]
    if xla_high < graph_low:
        return "XLA"
    if graph_high < xla_low:
        return "graph"
    return "tie"


def table_lines(rows: list[dict]) -> list[str]:
    head = (
        "| training images | epochs | batch | hidden | steps | rule's path | XLA CPU s (range) | "
    )
    head += "graph CPU s (range) | XLA / graph wall s | faster |"
    lines = [head, "|" + "---|" * 10]
    for row in rows:
        xla, graph = row["xla_cpu_range"], row["graph_cpu_range"]
        lines.append(
            f"| {row['train_images']:,} | {row['epochs']} | {row['batch_size']} | "
            f"{row['hidden_units']} | {row['steps']:,} | {row['rule_path']} | "
            f"{row['xla_cpu_s']:.2f} ({xla[0]:.2f}-{xla[1]:.2f}) | "
            f"{row['graph_cpu_s']:.2f} ({graph[0]:.2f}-{graph[1]:.2f}) | "
            f"{row['xla_wall_s']:.2f} / {row['graph_wall_s']:.2f} | {faster(row)} |"
        )
    return lines


def verdicts(rows: list[dict]) -> list[str]:
    """Whether the rule's path was the faster one (or tied) in each case."""
    wrong = [row for row in rows if faster(row) not in ("tie", row["rule_path"])]
    if not wrong:
        return ["the rule's path was the faster one or tied in every case"]
    return [
        f"the rule's path was slower at {row['steps']:,} steps (batch {row['batch_size']})"
        for row in wrong
    ]


def measure(args) -> None:
    cli.import_tensorflow_quietly()
    from kerasnn import compiled, load_dataset

    load_before = report.load_average()
    full = load_dataset("mnist")
    for xla in (True, False):  # Each path's one-time start in the process, before any case.
        one_run(full.subset(200), 1, 100, 7, xla)
    cases = QUICK_CASES if args.quick else CASES
    repeats = 1 if args.quick else args.repeats
    rows = []
    for index, case in enumerate(cases):
        print(f"case {index + 1}/{len(cases)}: {case}", file=sys.stderr, flush=True)
        rows.append(measure_case(full, case, repeats, offset=100 * index))
    checks = verdicts(rows)
    text = "\n".join(
        [
            "## Short runs: XLA or TensorFlow's graph",
            "",
            f"Command: `{report.command_line()}`. Load average (1, 5, 15 min) before: "
            f"{load_before}; after: {report.load_average()}.",
            "",
            "Each row trains one float32 run of MNIST (`kerasnn.train`, no early stopping) on "
            f"a network shape new to the process, with each path in turn, {repeats} time(s); "
            "CPU seconds are the process's, all threads, medians with their range. A path "
            "is faster only where the ranges do not overlap. The rule's path is what "
            f"`compiled.uses_xla` takes: XLA for float32 batches below "
            f"{compiled.XLA_BELOW_BATCH_SIZE} in runs of at least {compiled.XLA_FROM_STEPS} "
            "steps.",
            "",
            *table_lines(rows),
            "",
            *(f"- {line}" for line in checks),
            "",
            *report.describe_machine(report.machine()),
        ]
    )
    report.publish("short_runs", text, checks, rows, args)


def check(parser, args) -> None:
    cli.within(parser, "--repeats", args.repeats, 1, MAX_REPEATS)
    cli.require_data_dir(parser)


def main(argv=None) -> int:
    parser = cli.parser("short_runs", __doc__)
    parser.add_argument("--repeats", type=positive_int, default=3, help="runs per path (3)")
    parser.add_argument("--quick", action="store_true", help="the two shortest cases, once")
    report.add_output_options(parser)
    return cli.run(parser, argv, check, measure)


if __name__ == "__main__":
    sys.exit(main())
