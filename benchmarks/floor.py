"""A stored job's wall time as a multiple of its arithmetic floor on this machine.

    python -m benchmarks.floor --storage URL --study-name NAME [--report PATH]

Reads a study and its confirmation from their storage and adds up the arithmetic their runs
did: per trained epoch, the forward and backward passes of training, about 6 * N * M
floating-point operations for N training images and M multiply-adds per image (784 * h +
h * h per further hidden layer + h * 10), and the inference-mode passes `kerasnn.train`
makes after every epoch over the whole training and validation sets (kerasnn.compiled's
`evaluate`, forward only), 2 * (N + N_validation) * M. It measures the machine's matrix-product
peak in float32 and bfloat16 (TensorFlow's graph and XLA, at the training shapes and a large
square; the best of them), and prints the job's wall time (first trial start to last trial
end) and its training time (the trials' own seconds) as multiples of the floor, the time
that arithmetic takes at that peak. The floor of the job's precision is the one it is held
to; the other is what the job would need in it.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import sys
import time
from pathlib import Path

from benchmarks import cli, report
from kerasnn.config import CLASSES, IMAGE_PIXELS
from studies.errors import RuntimeFault
from studies.report.markdown import table

# The shapes whose products are timed: the training step's at a typical search shape (batch
# 137, hidden 413, as the probe), a large batch's, and a large square, where a CPU
# library reaches its peak.
PRODUCT_SHAPES = {
    "forward, batch 137": (137, IMAGE_PIXELS, 413),
    "weight gradient, batch 137": (IMAGE_PIXELS, 137, 413),
    "forward, batch 2000": (2000, IMAGE_PIXELS, 413),
    "weight gradient, batch 2000": (IMAGE_PIXELS, 2000, 413),
    "square 2048": (2048, 2048, 2048),
}
# The batch ranges the job's time is split by: where the training step's table
# (benchmarks.precision) shows float32 and bfloat16 trading places.
BATCH_RANGES = ((0, 256), (256, 512), (512, 1000), (1000, math.inf))
# Operations timed per call: enough that a call lasts a good fraction of a second.
FLOP_PER_CALL = 2e10


def multiply_adds(model_config: dict) -> int:
    """The multiply-adds of one image's forward pass through the network."""
    units, layers = model_config["hidden_units"], model_config.get("hidden_layers", 1)
    if units == 0:
        return IMAGE_PIXELS * CLASSES
    return IMAGE_PIXELS * units + (layers - 1) * units * units + units * CLASSES


def run_flop(trial, train_images: int, validation_images: int) -> tuple[float, float]:
    """A finished run's training and inference-pass floating-point operations."""
    per_image = multiply_adds(trial.user_attrs["model_config"])
    epochs = int(trial.user_attrs.get("epochs", 0))
    training = 6 * train_images * per_image * epochs
    inference = 2 * (train_images + validation_images) * per_image * epochs
    return training, inference


@dataclasses.dataclass
class JobArithmetic:
    training_flop: float
    inference_flop: float
    wall_seconds: float  # First trial start to last trial end.
    train_seconds: float  # The trials' own seconds (training and their measurement).
    epochs: int
    runs: int
    precision: str
    command: str
    # Per batch range of BATCH_RANGES: runs, epochs, the runs' own seconds, their operations.
    by_batch: dict[tuple, list[float]] = dataclasses.field(default_factory=dict)
    first_epoch_extra: float = 0.0  # See `first_epoch_extra`.

    @property
    def flop(self) -> float:
        return self.training_flop + self.inference_flop


def job_arithmetic(storage_url: str, study_name: str) -> JobArithmetic:
    """The arithmetic and times of a stored study and its confirmation (if it has one)."""
    import optuna

    from kerasnn import load_dataset
    from studies.engine import confirm
    from studies.storage import open_for_reading

    storage = open_for_reading(storage_url)
    try:
        search = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        raise RuntimeFault(f"no study {study_name!r} in {storage_url}") from None
    studies = [search, confirm.load_confirmation(storage, study_name)]
    trials = [
        trial
        for study in studies
        if study is not None
        for trial in study.get_trials(deepcopy=False)
        if trial.datetime_complete is not None and "model_config" in trial.user_attrs
    ]
    if not trials:
        raise RuntimeFault(f"study {study_name!r} has no finished run")
    attrs = search.user_attrs
    dataset = load_dataset(attrs.get("dataset", "fashion_mnist"))
    train_images = min(attrs.get("subset") or len(dataset.y_train), len(dataset.y_train))
    flops = [run_flop(trial, train_images, len(dataset.y_validation)) for trial in trials]
    precisions = {trial.user_attrs["train_config"].get("precision", "float32") for trial in trials}
    by_batch = {bounds: [0, 0, 0.0, 0.0] for bounds in BATCH_RANGES}
    for trial, (training, inference) in zip(trials, flops, strict=True):
        batch = trial.user_attrs["train_config"]["batch_size"]
        row = next(by_batch[(low, high)] for low, high in BATCH_RANGES if low <= batch < high)
        row[0] += 1
        row[1] += int(trial.user_attrs.get("epochs", 0))
        row[2] += float(trial.user_attrs.get("seconds", 0.0))
        row[3] += training + inference
    return JobArithmetic(
        training_flop=sum(training for training, _ in flops),
        inference_flop=sum(inference for _, inference in flops),
        wall_seconds=(
            max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)
        ).total_seconds(),
        train_seconds=sum(float(t.user_attrs.get("seconds", 0.0)) for t in trials),
        epochs=sum(int(t.user_attrs.get("epochs", 0)) for t in trials),
        runs=len(trials),
        precision=", ".join(sorted(precisions)),
        command=attrs.get("command", "not recorded"),
        by_batch=by_batch,
        first_epoch_extra=sum(first_epoch_extra(trial) for trial in trials),
    )


def first_epoch_extra(trial) -> float:
    """How much longer a run's first epoch took than its median later one: what compiling
    its shape (and first use) cost. 0 for a run of fewer than 3 epochs, which cannot tell."""
    seconds = trial.user_attrs.get("history", {}).get("seconds", [])
    if len(seconds) < 3:
        return 0.0
    return max(0.0, seconds[0] - statistics.median(seconds[1:]))


def product_rates(dtype: str, repeats: int = 3) -> dict[str, float]:
    """GFLOP/s of each of PRODUCT_SHAPES in `dtype`, the best of TensorFlow's graph and XLA.

    Each call loops over the product inside one program, so what is timed is the product,
    not Python's dispatch; the best of `repeats` calls is kept (other jobs may share the CPU).
    """
    import tensorflow as tf

    rates = {}
    for name, (rows, inner, columns) in PRODUCT_SHAPES.items():
        a = tf.cast(tf.random.normal((rows, inner), seed=1), dtype)
        b = tf.cast(tf.random.normal((inner, columns), seed=2) * 0.03, dtype)
        loops = max(1, round(FLOP_PER_CALL / (2 * rows * inner * columns)))
        best = 0.0
        for jit in (False, True):
            program = tf.function(_looped_product(loops), jit_compile=jit, autograph=False)
            program(a, b).numpy()  # Compiles.
            for _ in range(repeats):
                started = time.perf_counter()
                program(a, b).numpy()
                seconds = time.perf_counter() - started
                best = max(best, 2 * rows * inner * columns * loops / seconds / 1e9)
        rates[name] = best
    return rates


def _looped_product(loops: int):
    import tensorflow as tf

    def run(a, b):
        def body(step, a):
            # A dependence on the product keeps it from being optimised away or hoisted.
            product = tf.matmul(a, b)
            return step + 1, a + tf.cast(tf.reduce_mean(product) * 0.0, a.dtype)

        return tf.while_loop(lambda step, _: step < loops, body, (0, a))[1]

    return run


def markdown(job: JobArithmetic, rates: dict[str, dict[str, float]], info: dict) -> str:
    peaks = {dtype: max(values.values()) for dtype, values in rates.items()}
    rows = [[name, *(f"{rates[dtype][name]:.0f}" for dtype in rates)] for name in PRODUCT_SHAPES]
    floors = {dtype: job.flop / (peak * 1e9) for dtype, peak in peaks.items()}
    floor_rows = [
        [
            dtype,
            f"{peaks[dtype]:.0f}",
            f"{floors[dtype]:.1f}",
            f"{job.wall_seconds / floors[dtype]:.2f}",
            f"{job.train_seconds / floors[dtype]:.2f}",
        ]
        for dtype in rates
    ]
    inference_share = job.inference_flop / job.flop
    return "\n".join(
        [
            f"## The floor: a job's wall time against its arithmetic ({job.precision})",
            "",
            f"Command: `{report.command_line()}`.",
            "",
            f"The job: `{job.command}` ({job.runs} runs, {job.epochs} epochs, trained in "
            f"{job.precision}). Its arithmetic: {job.training_flop / 1e12:.2f} TFLOP of "
            f"training (forward and backward, 6 per multiply-add per image and epoch) and "
            f"{job.inference_flop / 1e12:.2f} TFLOP of inference-mode passes over the "
            f"training and validation sets after every epoch ({inference_share:.0%} of the "
            f"total). Wall time {job.wall_seconds:.1f} s from the first run's start to the "
            f"last run's end; the runs' own seconds {job.train_seconds:.1f} s, of which "
            f"{job.first_epoch_extra:.1f} s ({job.first_epoch_extra / job.train_seconds:.0%}) "
            "is first epochs beyond their run's median later epoch: compiling each new shape.",
            "",
            "Matrix-product throughput measured now, GFLOP/s (the best of TensorFlow's graph "
            "and XLA, the best of three calls):",
            "",
            table(["product (rows x inner x columns)", *rates], rows),
            "",
            "The floor is the job's arithmetic at the best of these rates:",
            "",
            table(
                ["precision", "peak GFLOP/s", "floor s", "wall / floor", "runs' seconds / floor"],
                floor_rows,
            ),
            "",
            "Where the runs' seconds went, by batch size (the training step's table in the "
            "precision section shows which precision and program is faster in each range):",
            "",
            table(
                ["batch size", "runs", "epochs", "runs' seconds", "share", "GFLOP/s achieved"],
                batch_rows(job),
            ),
            "",
            "Other jobs may have shared the CPU while the job or the products ran; the "
            "products are the best of three calls for that reason.",
            "",
            *report.describe_machine(info),
        ]
    )


def batch_rows(job: JobArithmetic) -> list[list[str]]:
    """The rows of the time-by-batch-size table: runs, epochs, seconds, share, throughput."""
    rows = []
    for (low, high), (runs, epochs, seconds, flop) in job.by_batch.items():
        span = f"{low}-{high - 1}" if high != math.inf else f"{low} and up"
        share = f"{seconds / job.train_seconds:.0%}" if job.train_seconds else "-"
        rate = f"{flop / seconds / 1e9:.0f}" if seconds else "-"
        rows.append([span, str(runs), str(epochs), f"{seconds:.1f}", share, rate])
    return rows


def measure(args) -> None:
    job = job_arithmetic(args.storage, args.study_name)
    rates = {dtype: product_rates(dtype) for dtype in ("float32", "bfloat16")}
    info = report.machine()
    text = markdown(job, rates, info)
    peak = max(rates[job.precision.split(",")[0]].values()) * 1e9
    multiple = job.wall_seconds / (job.flop / peak) if job.flop else math.nan
    checks = [f"wall time / floor ({job.precision}): {multiple:.2f}"]
    # One section per precision the job trained in, so that both floors stay published.
    section = f"floor-{job.precision.replace(', ', '-')}"
    report.publish(report.device_section(section, info), text, checks, [], args)


def check(parser, args) -> None:
    cli.require_data_dir(parser)


def main(argv=None) -> int:
    parser = cli.parser("floor", __doc__)
    parser.add_argument("--storage", required=True, help="the study's storage URL or journal")
    parser.add_argument("--study-name", required=True, help="the study's name")
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        help="markdown report to write the section into (default: print it)",
    )
    parser.set_defaults(quick=True, json=None)
    return cli.run(parser, argv, check, measure)


if __name__ == "__main__":
    sys.exit(main())
