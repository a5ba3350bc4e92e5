"""How fast a population trains, per network and epoch, against one network at a time.

    python -m benchmarks.population [--quick] [--epochs N] [--json PATH] [--report PATH]

Runs on the JAX backend (it sets KERAS_BACKEND=jax) on whatever device JAX finds. Every
network is the default one (Fashion-MNIST, Flatten -> Dense(128, relu) -> Dense(10,
softmax), Adam), each member with its own seed and learning rate. For each batch size, a
population of K members is trained for each K, and `kerasnn.train` trains one network the
same way on the same backend and device. An epoch here is what `train` calls one: the
training pass and the inference-mode measurement of the whole training and validation sets.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

os.environ["KERAS_BACKEND"] = "jax"  # The population needs it; `train` is compared on it too.

from benchmarks import cli, report  # noqa: E402
from kerasnn import ModelConfig, TrainConfig, load_dataset, train  # noqa: E402
from kerasnn.population import train_population  # noqa: E402

BATCH_SIZES = (128, 1000)
MEMBERS = (1, 4, 16, 64)
QUICK_MEMBERS = (1, 4, 16)
QUICK_TRAIN_SIZE = 5_000  # Training images of a --quick run (all 50,000 otherwise).


def runs(members: int, batch_size: int, epochs: int) -> list[tuple[ModelConfig, TrainConfig]]:
    """`members` default networks, each with its own seed and learning rate."""
    return [
        (
            ModelConfig(learning_rate=1e-3 * 1.1**index),
            TrainConfig(batch_size=batch_size, epochs=epochs, seed=index),
        )
        for index in range(members)
    ]


def population_row(members: int, batch_size: int, epochs: int, dataset) -> dict:
    started = time.perf_counter()
    result = train_population(runs(members, batch_size, epochs), dataset)
    wall = time.perf_counter() - started
    # A member's history holds its share of each epoch: the population's epoch over K.
    network_epoch = report.steady(result.results[0].history["seconds"])
    return {
        "batch_size": batch_size,
        "members": members,
        "network_epoch_s": network_epoch,
        "population_epoch_s": network_epoch * members,
        "compile_s": result.compile_seconds,
        "programs": result.programs,
        "compiled_programs": result.compiled_programs,
        "wall_s": wall,
        "val_accuracy": statistics.mean(member.val_accuracy for member in result.results),
    }


def alone_row(batch_size: int, epochs: int, dataset) -> dict:
    """`train` of one network: its steady epoch, and what its first took beyond that."""
    model_config, train_config = runs(1, batch_size, epochs)[0]
    started = time.perf_counter()
    result = train(model_config, train_config, dataset, test=False)
    wall = time.perf_counter() - started
    network_epoch = report.steady(result.history["seconds"])
    return {
        "batch_size": batch_size,
        "members": 0,  # One network through `train`, not a population.
        "network_epoch_s": network_epoch,
        "population_epoch_s": network_epoch,
        # Compiling model.fit's steps happens in the first epoch; this is all of its excess.
        "compile_s": wall - network_epoch * len(result.history["seconds"]),
        "programs": 1,
        "compiled_programs": 1,
        "wall_s": wall,
        "val_accuracy": result.val_accuracy,
    }


def measure(members: tuple[int, ...], epochs: int, dataset) -> list[dict]:
    rows = []
    for batch_size in BATCH_SIZES:
        rows.append(alone_row(batch_size, epochs, dataset))
        for count in members:
            rows.append(population_row(count, batch_size, epochs, dataset))
        # The same population again: its program is reused, nothing is compiled.
        rows.append(population_row(members[-1], batch_size, epochs, dataset))
        for row in rows[-len(members) - 2 :]:
            print(describe(row), flush=True)
    return rows


def describe(row: dict) -> str:
    who = f"K={row['members']:>3}" if row["members"] else "train()"
    return (
        f"batch {row['batch_size']:>5} {who:>7}: {1000 * row['network_epoch_s']:.1f} ms per "
        f"network-epoch, compile {row['compile_s']:.1f} s ({row['compiled_programs']} of "
        f"{row['programs']} programs compiled)"
    )


def markdown(rows: list[dict], info: dict, train_size: int, epochs: int, seconds: float) -> str:
    header = (
        "| batch | networks | ms per network-epoch | speed-up over train() "
        "| s per population epoch | compile s | programs compiled / run |\n"
        "|---:|---|---:|---:|---:|---:|---|"
    )
    alone = {row["batch_size"]: row for row in rows if not row["members"]}
    lines = [
        f"| {row['batch_size']} | {row['members'] or 'train(), one'} "
        f"| {1000 * row['network_epoch_s']:.1f} "
        f"| {alone[row['batch_size']]['network_epoch_s'] / row['network_epoch_s']:.1f}x "
        f"| {row['population_epoch_s']:.2f} | {row['compile_s']:.1f} "
        f"| {row['compiled_programs']} / {row['programs']} |"
        for row in rows
    ]
    cache = os.environ.get("JAX_COMPILATION_CACHE_DIR") or "none"
    return "\n".join(
        [
            "## Population training",
            "",
            f"Command: `{report.command_line()}` ({seconds:.0f} s).",
            "",
            f"Fashion-MNIST, {train_size:,} training images, Flatten -> Dense(128, relu) -> "
            f"Dense(10, softmax), Adam, {epochs} epochs per run, JAX backend. *networks* is "
            "the population's size K (each member with its own seed and learning rate), or "
            "one network trained by `kerasnn.train` (model.fit) on the same device. An epoch "
            "is the training pass and the inference-mode measurement of the training and "
            "validation sets; times are medians of the epochs after the first, compiling "
            "excluded, divided by K. *compile s* is compiling the population's programs (for "
            "`train()`: its first epoch's excess over a steady one); each batch size's last "
            "row repeats its largest population, whose program is then reused. Persistent "
            f"compilation cache: {cache}.",
            "",
            header,
            *lines,
            "",
            *report.describe_machine(info),
        ]
    )


def main(argv=None) -> int:
    parser = cli.parser("population", __doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"K up to {QUICK_MEMBERS[-1]}, {QUICK_TRAIN_SIZE:,} training images, 2 epochs",
    )
    cli.add_epochs_option(parser, quick=2, full=3)
    report.add_output_options(parser)
    return cli.run(parser, argv, check, run)


def check(parser, args) -> None:
    cli.require_data_dir(parser)
    cli.check_epochs(parser, args)


def run(args) -> None:
    epochs = cli.epochs(args)
    started = time.perf_counter()
    dataset = load_dataset("fashion_mnist")
    if args.quick:
        dataset = dataset.subset(QUICK_TRAIN_SIZE)
    members = QUICK_MEMBERS if args.quick else MEMBERS
    rows = measure(members, epochs, dataset)
    train_size = len(dataset.y_train)
    info = report.machine()
    text = markdown(rows, info, train_size, epochs, time.perf_counter() - started)
    report.publish(report.device_section("population", info), text, [], rows, args)


if __name__ == "__main__":
    sys.exit(main())
