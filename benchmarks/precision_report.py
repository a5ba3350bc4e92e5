"""The section of `reports/benchmarks.md` that `benchmarks.precision` measures: the step
table, the jobs compared per seed by the project's one rule for "tied", and the verdicts."""

from __future__ import annotations

import statistics

from benchmarks import report
from kerasnn import stats
from studies.report.markdown import table

PRECISIONS = ("float32", "bfloat16")
DROPOUT_RATE = 0.25  # The step's dropout: about the search's middle.
MIN_SEEDS = 3  # As the population benchmark's rule: fewer seeds cannot tell.


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
    from kerasnn.compiled import XLA_BELOW_BATCH_SIZE  # TensorFlow: only when writing.

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
        f"batch {XLA_BELOW_BATCH_SIZE}, the graph above; bfloat16 always the graph); the last "
        "columns are float32 "
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
