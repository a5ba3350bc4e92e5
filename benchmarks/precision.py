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
from kerasnn import stats
from studies.cli.options import count
from studies.errors import RuntimeFault
from studies.report.markdown import table

JSON = report.ROOT / "reports" / "benchmarks-precision.json"
PRECISIONS = ("float32", "bfloat16")
# The step's shapes: the search's batch sizes (log-uniform 100-7000) and widths (32-512).
STEP_SHAPES = [
    (batch, hidden) for batch in (128, 256, 512, 1000, 2000, 4000) for hidden in (64, 256, 512)
]
STEP_ROUNDS = 4  # Epochs per (shape, precision, program); the first carries the compile.
DROPOUT_RATE = 0.25  # About the search's middle.
MIN_SEEDS = 3  # As the population benchmark's rule: fewer seeds cannot tell.


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
    confirmation = optuna.load_study(study_name="benchmark" + confirm.SUFFIX, storage=opened)
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


def compare_jobs(records: list[dict], job: str) -> dict | None:
    """Per seed, bfloat16 against float32: times, the confirmed answers, the same runs."""
    by = {(r["seed"], r["precision"]): r for r in records if r["job"] == job}
    seeds = sorted({seed for seed, _ in by if (seed, "float32") in by and (seed, "bfloat16") in by})
    if not seeds:
        return None
    rows, wall, per_epoch, paired, differences = [], [], [], [], []
    for seed in seeds:
        single, half = by[seed, "float32"], by[seed, "bfloat16"]
        wall.append(single["seconds"] / half["seconds"])
        epoch_single = single["train_seconds"] / single["trained_epochs"]
        epoch_half = half["train_seconds"] / half["trained_epochs"]
        per_epoch.append(epoch_single / epoch_half)
        paired.append(half["confirmed_objective"] - single["confirmed_objective"])
        verdict = stats.compare(half["winner_objectives"], single["winner_objectives"])
        same = [
            abs(a - b)
            for key in single["curves"].keys() & half["curves"].keys()
            for a, b in zip(single["curves"][key], half["curves"][key], strict=False)
        ]
        differences += same
        rows.append(
            [
                str(seed),
                f"{single['seconds']:.1f} / {half['seconds']:.1f}",
                f"{epoch_single:.3f} / {epoch_half:.3f}",
                f"{single['confirmed_objective']:.4f} / {half['confirmed_objective']:.4f}",
                "yes" if single["winner_params"] == half["winner_params"] else "no",
                verdict.verdict(),
                f"{len(same)}: mean {statistics.fmean(same):.4f}, max {max(same):.4f}"
                if same
                else "none in common",
            ]
        )
    noise = statistics.fmean(by[seed, "float32"]["seed_noise"] for seed in seeds)
    mean_paired = statistics.fmean(paired)
    if len(seeds) < MIN_SEEDS:
        keeps = f"{len(seeds)} seed(s) cannot tell (the rule needs {MIN_SEEDS})"
    else:
        keeps = "keeps the answer" if mean_paired >= -noise else "changes the answer"
    wall_spread = stats.spread(wall)
    return {
        "seeds": seeds,
        "rows": rows,
        "wall_ratio": stats.plus_minus(wall_spread.mean, wall_spread.sd, ".2f"),
        "wall_ratio_mean": wall_spread.mean,
        "epoch_ratio": stats.plus_minus(
            statistics.fmean(per_epoch), stats.spread(per_epoch).sd, ".2f"
        ),
        "paired": stats.plus_minus(mean_paired, stats.spread(paired).sd, "+.4f"),
        "noise": noise,
        "keeps": keeps,
        "keeps_answer": keeps == "keeps the answer",
        "accuracy_differences": differences,
    }


def steps_markdown(steps: dict) -> list[str]:
    rows = []
    for row in steps["rows"]:
        rows.append(
            [
                str(row["batch_size"]),
                str(row["hidden_units"]),
                *(
                    f"{row[f'{p}_{program}_s']:.3f}"
                    for p in PRECISIONS
                    for program in ("graph", "xla")
                ),
                f"{row['float32_path_s'] / row['bfloat16_path_s']:.2f}",
                f"{row['float32_inference_s']:.3f} / {row['bfloat16_inference_s']:.3f}",
            ]
        )
    products = steps["products"]
    product_rows = [
        [name, *(f"{products[p][name]:.0f}" for p in PRECISIONS)]
        + [f"{products['bfloat16'][name] / products['float32'][name]:.2f}"]
        for name in products["float32"]
    ]
    return [
        f"The training step: steady seconds per epoch of {steps['train_images']:,} images "
        f"(dropout {DROPOUT_RATE}), each precision as TensorFlow's graph and as an XLA program, "
        "epochs in turn; the path `train` takes (`compiled.uses_xla`: float32 as XLA below "
        "batch 512, the graph above; bfloat16 always the graph); the last columns are float32 "
        "over bfloat16 on those paths, and the inference-mode passes over the training and "
        "validation sets that follow every epoch (seconds, float32 / bfloat16).",
        "",
        table(
            [
                "batch",
                "hidden",
                "float32 graph",
                "float32 XLA",
                "bfloat16 graph",
                "bfloat16 XLA",
                "path float32 / bfloat16",
                "inference passes",
            ],
            rows,
        ),
        "",
        "The products alone, GFLOP/s (best of graph and XLA; `benchmarks.floor`):",
        "",
        table(["product", *PRECISIONS, "bfloat16 / float32"], product_rows),
    ]


def jobs_markdown(result: dict, job: str) -> list[str]:
    differences = result["accuracy_differences"]
    spread = (
        f"mean {statistics.fmean(differences):.4f}, median {statistics.median(differences):.4f}, "
        f"max {max(differences):.4f} over {len(differences)} epochs"
        if differences
        else "no run in common"
    )
    return [
        f"The {job} job, float32 / bfloat16 per sampler seed (the float32 study first, then "
        "the bfloat16 one): wall seconds of the whole command, seconds per trained epoch "
        "(the runs' own seconds over their epochs, measurement passes included), the "
        "confirmed objective, whether both confirmed the same configuration, bfloat16's "
        "winner against float32's over their confirmation seeds (`kerasnn.stats.compare`), "
        "and the runs both trained (same configuration and seed): |validation accuracy "
        "difference| per epoch.",
        "",
        table(
            [
                "seed",
                "wall s",
                "s per epoch",
                "confirmed objective",
                "same winner",
                "bfloat16's winner against float32's",
                "same runs' epochs: |difference|",
            ],
            result["rows"],
        ),
        "",
        f"Wall time, float32 over bfloat16, paired by seed: {result['wall_ratio']}; seconds "
        f"per epoch: {result['epoch_ratio']}.",
        "",
        f"Confirmed objective, bfloat16 minus float32, paired by seed: {result['paired']} "
        f"(pooled seed sd {result['noise']:.4f}): bfloat16 {result['keeps']}.",
        "",
        f"Validation accuracy of the same run in both precisions, per epoch: {spread}.",
    ]


def markdown(stored: dict, info: dict) -> str:
    lines = ["## bfloat16 against float32 on the CPU", "", "Commands:", ""]
    lines += [
        f"- `{run['command']}` ({', '.join(run['parts'])}; {run['minutes']:.0f} min; load "
        f"average {run.get('load_average') or 'not recorded'} when it started)"
        for run in stored.get("runs", [])
    ]
    lines += [
        "",
        "Each part ran its precisions in turn, so that other jobs on the machine loaded both "
        "alike: only the ratios within a part compare.",
        "",
        f"bfloat16 on this CPU: {info['bfloat16']}.",
        "",
    ]
    if stored.get("steps"):
        lines += [*steps_markdown(stored["steps"]), ""]
    for job in ("quick", "default"):
        result = compare_jobs(stored.get("records", []), job)
        if result:
            lines += [*jobs_markdown(result, job), ""]
        elif job == "default":
            lines += ["The default job (--full) was not run for this section.", ""]
    return "\n".join([*lines, *report.describe_machine(info)])


def verdicts(stored: dict) -> list[str]:
    checks = []
    for job in ("quick", "default"):
        result = compare_jobs(stored.get("records", []), job)
        if result:
            checks.append(
                f"{job} job: float32 / bfloat16 wall {result['wall_ratio']}; bfloat16 "
                f"{result['keeps']}"
            )
    return checks


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
