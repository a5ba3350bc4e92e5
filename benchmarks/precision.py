"""bfloat16 against float32 on this CPU: the training step, the quick job and the default job.

    python -m benchmarks.precision [--seeds 0 1 2] [--full] [--no-steps] [--no-jobs]
                                   [--report PATH] [--json PATH]

Three measurements, each interleaving the two precisions so that other jobs on the machine
load both alike; only their ratios are meant to compare.

- The training step: seconds per epoch of kerasnn's compiled epoch (50,000 images) at the
  default study's shapes (batch sizes 100-7000, hidden widths 32-512), in float32 and in
  Keras' mixed_bfloat16 (`TrainConfig.precision`), each as TensorFlow's graph and as an XLA
  program, epoch after epoch in turn; the inference-mode passes over the training and
  validation sets that follow every epoch; and the matrix products alone
  (`benchmarks.floor.product_rates`), which show where bfloat16 gains and where it cannot.
- The quick job (the default study on 5,000 images, 12 trials of 6 epochs, its top 3
  confirmed over 3 fresh seeds) per sampler seed, in float32 and then in bfloat16: wall time,
  seconds per trained epoch, the confirmed winners compared by `kerasnn.stats.compare` (the
  project's one rule for "tied"), and the per-epoch validation accuracy of the same run (same
  configuration and seed) in both precisions.
- With --full, the default job (`python -m studies.run`) the same way, after the quick one:
  two default jobs per seed, so plan for many times the quick job's time.

The answer: bfloat16 keeps the answer when the confirmed objective, paired by seed, is on
average no more than one pooled seed sd below float32's (the population benchmark's rule),
and pays when the job's wall time is shorter.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

from benchmarks import cli, report
from benchmarks import study as study_benchmark
from benchmarks.precision_report import DROPOUT_RATE, PRECISIONS, markdown, verdicts
from studies.cli.options import count
from studies.errors import RuntimeFault

JSON = report.ROOT / "reports" / "benchmarks-precision.json"
# The step's shapes: the search's batch sizes (log-uniform 100-7000) and widths (32-512).
STEP_SHAPES = [
    (batch, hidden) for batch in (128, 256, 512, 1000, 2000, 4000) for hidden in (64, 256, 512)
]
STEP_ROUNDS = 4  # Epochs per (shape, precision, program); the first carries the compile.


def step_row(batch: int, hidden: int, dataset) -> dict:
    """Steady seconds per epoch of each (precision, program), and of the inference passes."""
    import keras
    import numpy as np
    import tensorflow as tf

    from kerasnn import ModelConfig, build_model, compiled

    networks = {}
    for precision in PRECISIONS:
        for xla in (False, True):
            keras.utils.set_random_seed(0)
            model = build_model(
                ModelConfig(hidden_units=hidden, dropout_rate=DROPOUT_RATE), precision=precision
            )
            network = compiled._CompiledNetwork(
                model, dropout=True, regularized=False, batch_size=batch, jit_compile=xla
            )
            network.start(model, 0)
            networks[precision, xla] = network
    size = len(dataset.y_train)
    order = tf.constant(np.pad(np.random.permutation(size), (0, -size % batch)), tf.int32)
    labels = tf.constant(dataset.y_train)
    validation = tf.constant(dataset.y_validation)
    images = {p: tf.cast(tf.constant(dataset.x_train), p) for p in PRECISIONS}
    validation_images = {p: tf.cast(tf.constant(dataset.x_validation), p) for p in PRECISIONS}
    epoch_s = {key: [] for key in networks}
    inference_s = {key: [] for key in networks}
    for round_ in range(STEP_ROUNDS):
        for key, network in networks.items():
            precision = key[0]
            started = time.perf_counter()
            network.epoch(images[precision], labels, order, tf.constant(round_, tf.int64))
            epoch_s[key].append(time.perf_counter() - started)
            started = time.perf_counter()
            network.evaluate(images[precision], labels)
            network.evaluate(validation_images[precision], validation)
            inference_s[key].append(time.perf_counter() - started)
    row = {"batch_size": batch, "hidden_units": hidden}
    for (precision, xla), seconds in epoch_s.items():
        row[f"{precision}_{'xla' if xla else 'graph'}_s"] = report.steady(seconds)
    for precision in PRECISIONS:
        # The inference passes are eager (see compiled.evaluate): the same for both programs.
        row[f"{precision}_inference_s"] = statistics.median(
            report.steady(inference_s[precision, xla]) for xla in (False, True)
        )
        xla = compiled.uses_xla(batch, [precision, "float32"])
        row[f"{precision}_path_s"] = row[f"{precision}_{'xla' if xla else 'graph'}_s"]
    return row


def measure_steps() -> dict:
    from benchmarks.floor import product_rates
    from kerasnn import load_dataset

    dataset = load_dataset("fashion_mnist")
    rows = []
    for batch, hidden in STEP_SHAPES:
        rows.append(step_row(batch, hidden, dataset))
        print(f"step: batch {batch}, hidden {hidden}: {rows[-1]}", flush=True)
    products = {precision: product_rates(precision) for precision in PRECISIONS}
    return {"rows": rows, "products": products, "train_images": len(dataset.y_train)}


def run_job(precision: str, seed: int, quick: bool, keep: Path | None = None) -> dict:
    """One study with its confirmation in `precision`, on a fresh journal storage (kept in
    `keep` as `<job>-<precision>-seed<seed>.log`, for `benchmarks.floor`, when given)."""
    import subprocess

    options = types.SimpleNamespace(quick=quick, confirm_top=3, confirm_seeds=3)
    with tempfile.TemporaryDirectory(prefix="kerasnn-precision-") as folder:
        name = f"{'quick' if quick else 'default'}-{precision}-seed{seed}.log"
        storage = Path(folder) / "study.log" if keep is None else keep / name
        storage.unlink(missing_ok=True)
        command = study_benchmark.study_command(["--precision", precision], seed, storage, options)
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            last = [line for line in done.stderr.splitlines() if line.strip()][-1:] or ["-"]
            raise RuntimeFault(f"{precision}, seed {seed}: studies.run failed: {last[0]}")
        record = {"precision": precision, "seed": seed, "seconds": seconds}
        record |= study_benchmark.measures(storage, options)
        return record | runs_of(storage)


def runs_of(storage: Path) -> dict:
    """The job's runs: training seconds and epochs, each run's validation accuracy per epoch
    keyed by its configuration and seed, and the confirmed winner's objective per seed."""
    import optuna

    from studies.engine import confirm
    from studies.storage import open_for_reading

    opened = open_for_reading(str(storage))
    search = optuna.load_study(study_name="benchmark", storage=opened)
    confirmation = confirm.load_confirmation(opened, "benchmark")
    trials = [
        trial
        for study in (search, confirmation)
        for trial in study.get_trials(deepcopy=False)
        if "history" in trial.user_attrs
    ]
    curves = {}
    for trial in trials:
        train_config = dict(trial.user_attrs["train_config"])
        train_config.pop("precision", None)
        key = json.dumps([trial.user_attrs["model_config"], train_config], sort_keys=True)
        curves[key] = trial.user_attrs["history"]["val_accuracy"]
    answer = confirm.answer(search, confirmation)
    winner = confirm.runs_by_source(search, confirmation)[answer.winner.source]
    return {
        "train_seconds": sum(float(t.user_attrs.get("seconds", 0.0)) for t in trials),
        "trained_epochs": sum(int(t.user_attrs.get("epochs", 0)) for t in trials),
        "curves": curves,
        "winner_params": answer.winner.params,
        "winner_objectives": [t.user_attrs["objective"] for t in winner],
    }


def measure_jobs(seeds: list[int], quick: bool, records: list[dict], saved, keep=None) -> list:
    for seed in seeds:
        for precision in PRECISIONS:
            record = run_job(precision, seed, quick, keep)
            record["job"] = "quick" if quick else "default"
            records.append(record)
            print(
                f"{record['job']} job, seed {seed}, {precision}: {record['seconds']:.1f} s, "
                f"confirmed {record['confirmed_objective']:.4f}",
                flush=True,
            )
            saved()
    return records


def measure(args) -> None:
    started = time.perf_counter()
    target = args.json or JSON
    stored = _kept(target, args)
    load = round(os.getloadavg()[0], 1)  # What else ran when this run started.

    def saved():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(stored, indent=2) + "\n")

    if args.steps:
        stored["steps"] = measure_steps()
        saved()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    if args.jobs:
        measure_jobs(args.seeds, True, stored["records"], saved, args.keep)
    if args.full:
        measure_jobs(args.seeds, False, stored["records"], saved, args.keep)
    info = report.machine()
    stored["machine"] = info
    parts = [name for name, done in (("steps", args.steps), ("quick", args.jobs)) if done]
    stored["runs"] = [
        *stored.get("runs", []),
        {
            "command": report.command_line(),
            "parts": parts + ["default"] * args.full,
            "minutes": round((time.perf_counter() - started) / 60, 1),
            "load_average": load,
        },
    ]
    saved()
    text = markdown(stored, info)
    args.json = None  # Written above, as each part ended.
    report.publish(report.device_section("precision", info), text, verdicts(stored), [], args)


def _kept(target: Path, args) -> dict:
    """What the JSON holds of the parts this run does not measure again (a `--full` run
    alone keeps the steps and the quick jobs of an earlier run), and where they came from."""
    stored: dict = json.loads(target.read_text()) if target.exists() else {}
    again = {job for job, measured in (("quick", args.jobs), ("default", args.full)) if measured}
    records = [r for r in stored.get("records", []) if r.get("job") not in again]
    kept = {"records": records, "runs": []}
    if not args.steps and "steps" in stored:
        kept["steps"] = stored["steps"]
    kept_parts = {r["job"] for r in records} | ({"steps"} if "steps" in kept else set())
    kept["runs"] = [run for run in stored.get("runs", []) if kept_parts & set(run.get("parts", []))]
    return kept


def check(parser, args) -> None:
    cli.require_data_dir(parser)
    if len(set(args.seeds)) < len(args.seeds):
        parser.error("argument --seeds: a seed is given twice")
    if not (args.steps or args.jobs or args.full):
        parser.error("--no-steps and --no-jobs without --full leave nothing to measure")


def main(argv=None) -> int:
    parser = cli.parser("precision", __doc__)
    parser.add_argument("--seeds", type=count, nargs="+", default=[0, 1, 2], help="sampler seeds")
    parser.add_argument("--full", action="store_true", help="also the default job per seed")
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep each job's storage in this folder (for benchmarks.floor)",
    )
    parser.add_argument("--no-steps", dest="steps", action="store_false", help="skip the step")
    parser.add_argument("--no-jobs", dest="jobs", action="store_false", help="skip the quick job")
    parser.add_argument("--json", type=Path, default=None, help=f"the runs ({JSON.name})")
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        help="markdown report to write the section into (default: print it)",
    )
    parser.set_defaults(quick=True)
    return cli.run(parser, argv, check, measure)


if __name__ == "__main__":
    sys.exit(main())
