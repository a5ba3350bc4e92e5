"""How fast kerasnn trains, against a plain Keras fit and against the arithmetic floor.

    python -m benchmarks.speed [--quick] [--epochs N] [--json PATH]

Both paths train the same network (Fashion-MNIST, Flatten -> Dense(hidden, relu) ->
Dropout(0.2) -> Dense(10, softmax), Adam 1e-3, seed 0) on the same 50,000 training images
in one process, one after the other. "Plain" is `build_model(config)` (Keras' default
compile: no XLA on CPU, one step per call) and `model.fit`. "kerasnn" is `kerasnn.train`,
whose epoch also measures the whole training and validation sets in inference mode; its
training-only epoch (the figure compared with the plain fit and the floor) is timed on the
same compiled program, between the plain fit's epochs.

The floor is the arithmetic alone: 4 x parameters FLOPs per image (the forward product,
and the two backward products; the input gradient of the first layer is never needed)
at the matrix-multiply throughput measured in the same run, between the epochs.
"""

from __future__ import annotations

import sys
import time

from benchmarks import cli, report

# (batch size, hidden units) rows of the table.
ROWS = ((32, 128), (100, 128), (128, 128), (512, 128), (3000, 128), (128, 512))
QUICK_ROWS = ((32, 128), (512, 128))
QUICK_EPOCHS, FULL_EPOCHS = 3, 5

# The speed targets kerasnn sets itself; timings are never asserted in tests, only reported here.
TARGET_SPEEDUP_BATCH_32 = 6.0
TARGET_FLOOR_RATIO_BATCH_128 = 4.0
TARGET_FLOOR_RATIO_LARGE_BATCH = 2.5  # batch >= 512
TARGET_OVERHEAD_S = 1.0
TARGET_ACCURACY_POINTS = 0.5


def targets(rows: list[dict]) -> list[str]:
    """One line per speed target: what it asks, what was measured, met or not."""

    def verdict(ok):
        return "met" if ok else "NOT met"

    lines = []
    for row in rows:
        label = f"batch {row['batch_size']}, {row['hidden_units']} hidden"
        if row["batch_size"] == 32:
            lines.append(
                f"{label}: speed-up {row['speedup']:.1f}x "
                f"(target >= {TARGET_SPEEDUP_BATCH_32:g}x): "
                f"{verdict(row['speedup'] >= TARGET_SPEEDUP_BATCH_32)}"
            )
        limit = None
        if row["batch_size"] >= 512:
            limit = TARGET_FLOOR_RATIO_LARGE_BATCH
        elif row["batch_size"] == 128:
            limit = TARGET_FLOOR_RATIO_BATCH_128
        if limit is not None:
            lines.append(
                f"{label}: {row['floor_ratio']:.2f}x the floor (target <= {limit:g}x): "
                f"{verdict(row['floor_ratio'] <= limit)}"
            )
        # Accuracies are whole numbers of test images; rounding keeps a difference of
        # exactly 0.5 points from reading as 0.50000000001 in floating point.
        points = round(100 * abs(row["kerasnn_test_accuracy"] - row["plain_test_accuracy"]), 6)
        # Same seed, same initial weights, but other dropout masks and batch orders: how
        # much kerasnn's own result moves with the seed says what "noise" is here.
        spread = 100 * abs(row["kerasnn_test_accuracy"] - row["kerasnn_test_accuracy_seed_1"])
        lines.append(
            f"{label}: test accuracy differs by {points:.2f} points "
            f"(target <= {TARGET_ACCURACY_POINTS:g}): {verdict(points <= TARGET_ACCURACY_POINTS)}; "
            f"kerasnn with seed 1 instead of 0 differs from itself by {spread:.2f} points"
        )
    worst_cold = max(row["first_epoch_overhead_s"] for row in rows)
    worst_warm = max(row["first_epoch_overhead_warm_s"] for row in rows)
    lines.append(
        f"first-epoch overhead per trial (target <= {TARGET_OVERHEAD_S:g} s): "
        f"at most {worst_warm:.2f} s when the shapes were compiled by an earlier trial "
        f"({verdict(worst_warm <= TARGET_OVERHEAD_S)}), at most {worst_cold:.2f} s for new "
        f"shapes ({verdict(worst_cold <= TARGET_OVERHEAD_S)})"
    )
    return lines


def rows_table(rows: list[dict]) -> str:
    """The table of the measured shapes, a row each."""
    header = (
        "| batch | hidden | plain s/epoch | kerasnn s/epoch | floor s/epoch | speed-up "
        "| kerasnn / floor | kerasnn s/epoch incl. measurement | plain images/s "
        "| kerasnn images/s | first-epoch overhead plain / kerasnn new shapes / repeated "
        "| test accuracy plain / kerasnn | matmul GFLOP/s |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|"
    )
    lines = [
        f"| {r['batch_size']} | {r['hidden_units']} | {r['plain_epoch_s']:.3f} "
        f"| {r['kerasnn_epoch_s']:.3f} | {r['floor_epoch_s']:.3f} | {r['speedup']:.1f}x "
        f"| {r['floor_ratio']:.2f}x | {r['kerasnn_measured_epoch_s']:.3f} "
        f"| {r['plain_images_per_s']:,.0f} | {r['kerasnn_images_per_s']:,.0f} "
        f"| {r['plain_first_epoch_overhead_s']:.2f} / {r['first_epoch_overhead_s']:.2f} / "
        f"{r['first_epoch_overhead_warm_s']:.2f} s "
        f"| {100 * r['plain_test_accuracy']:.2f} / {100 * r['kerasnn_test_accuracy']:.2f} "
        f"| {r['matmul_gflop_s']:.0f} |"
        for r in rows
    ]
    return "\n".join([header, *lines])


def markdown(rows: list[dict], info: dict, loads: tuple[str, str], seconds: float) -> str:
    from benchmarks.timing import DROPOUT_RATE, MATMUL_SIZE, SEED
    from kerasnn.compiled import XLA_BELOW_BATCH_SIZE, XLA_FROM_STEPS

    first = rows[0]
    return "\n".join(
        [
            "## Training speed",
            "",
            f"Command: `{report.command_line()}` ({seconds:.0f} s). Load average (1, 5, 15 min) "
            f"before: {loads[0]}; after: {loads[1]}.",
            "",
            f"Fashion-MNIST, {first['train_images']:,} training images, "
            f"Flatten -> Dense(hidden, relu) -> Dropout({DROPOUT_RATE}) -> Dense(10, softmax), "
            f"Adam 1e-3, seed {SEED}, {first['epochs']} epochs per run. Seconds per epoch are "
            "medians over the epochs after the first. *Plain* is `model.fit` on "
            "`build_model(config)` with Keras' default compile (no XLA on CPU, one step per "
            "call). *kerasnn* is the training pass of `kerasnn.train`: one XLA program per "
            f"epoch below batch {XLA_BELOW_BATCH_SIZE} in runs of at least {XLA_FROM_STEPS} "
            "steps, one TensorFlow graph per epoch otherwise; it is timed between the plain fit's epochs, each followed "
            "by a sample of the matrix-multiply throughput, so that all three see the same "
            "load from other processes. *incl. measurement* is `train`'s whole epoch, which "
            "also measures the training and validation sets in inference mode (60,000 "
            "images forward). The *floor* is 4 x parameters FLOPs per image at the row's "
            f"median matrix-multiply throughput ({MATMUL_SIZE}x{MATMUL_SIZE} float32, the "
            "faster of TensorFlow with and without XLA). *First-epoch overhead* is a run's "
            "wall time minus its later epochs and one epoch at the steady rate: building, "
            "compiling, set-up and (kerasnn) the final test evaluation; for kerasnn once for "
            "shapes not compiled before in the process, and once for a second run with the "
            "same shapes (another "
            "seed), as a study's later trials are; a short warm-up run first converts the "
            "dataset to tensors, once per process. Test accuracy is after the last epoch, "
            "for both from the same initial weights (seed 0).",
            "",
            rows_table(rows),
            "",
            "Targets:",
            "",
            *[f"- {line}" for line in targets(rows)],
            "",
            *report.describe_machine(info),
        ]
    )


def measure_rows(args) -> list[dict]:
    """Times every row of the table (the quick ones with --quick), printing each."""
    from benchmarks import timing
    from kerasnn import ModelConfig, TrainConfig, load_dataset, train

    dataset = load_dataset("fashion_mnist")
    # One short run first, so that what a process does once (TensorFlow's start-up, the
    # dataset's conversion to tensors) is not charged to the first row's overhead.
    train(ModelConfig(hidden_units=16), TrainConfig(batch_size=1000, epochs=1), dataset)
    matmul = timing.MatmulClock()
    rows = []
    for batch_size, hidden_units in QUICK_ROWS if args.quick else ROWS:
        row = timing.measure_row(batch_size, hidden_units, cli.epochs(args), dataset, matmul)
        rows.append(row)
        print(
            f"batch {batch_size:>5} hidden {hidden_units:>4}: plain {row['plain_epoch_s']:.3f} s, "
            f"kerasnn {row['kerasnn_epoch_s']:.3f} s, floor {row['floor_epoch_s']:.3f} s, "
            f"speed-up {row['speedup']:.1f}x, floor ratio {row['floor_ratio']:.2f}x, "
            f"overhead {row['first_epoch_overhead_s']:.2f} / "
            f"{row['first_epoch_overhead_warm_s']:.2f} s",
            flush=True,
        )
    return rows


def measure(args) -> None:
    started = time.perf_counter()
    load_before = report.load_average()
    rows = measure_rows(args)
    loads = (load_before, report.load_average())
    text = markdown(rows, report.machine(), loads, time.perf_counter() - started)
    report.publish("speed", text, targets(rows), rows, args)


def check(parser, args) -> None:
    cli.check_epochs(parser, args)


def main(argv=None) -> int:
    parser = cli.parser("speed", __doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"two rows, {QUICK_EPOCHS} epochs (< 3 min); no report unless given --report",
    )
    cli.add_epochs_option(parser, quick=QUICK_EPOCHS, full=FULL_EPOCHS)
    report.add_output_options(parser)
    return cli.run(parser, argv, check, measure)


if __name__ == "__main__":
    sys.exit(main())
