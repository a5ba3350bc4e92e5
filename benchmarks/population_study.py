"""The default job one trial at a time against `--population K`, over sampler seeds.

    python -m benchmarks.population_study [--population K] [--seeds 0 1 2] [--quick]

Runs `python -m studies.run` (the default study: search, then a confirmation of its top
configurations over fresh seeds) twice per sampler seed, on fresh journal storages: with
`--population 1` (today's path, one trial at a time) and with `--population K` (trials asked
K at a time and trained as populations on the JAX backend). Per seed it records the wall
time of the whole command and the confirmed objective of the winner; the population keeps
the answer when its confirmed objective, paired by seed with the sequential one, is on
average no more than one pooled seed sd below it (the pruning benchmark's rule).
"""

from __future__ import annotations

import statistics
import sys
import time

from benchmarks import cli, report
from benchmarks import study as study_benchmark
from kerasnn import stats
from studies.cli.options import at_most, count, positive_int
from studies.report.markdown import table


def measure(args) -> None:
    labels = {"one at a time": ["--population", "1"]}
    labels[f"population {args.population}"] = ["--population", str(args.population)]
    started, records = time.perf_counter(), []
    for seed in args.seeds:
        for label, options in labels.items():
            record = study_benchmark.run_one(label, seed, None, args, options)
            print(study_benchmark.describe_run(record), flush=True)
            records.append(record)
    result = summarise(records, list(labels))
    text = markdown(result, args, report.machine(), time.perf_counter() - started)
    report.publish("population-study", text, [result["verdict"]], records, args)


def summarise(records: list[dict], labels: list[str]) -> dict:
    """Per label: mean ± sd over seeds; the population's paired difference and verdict."""
    by = {label: {r["seed"]: r for r in records if r["strategy"] == label} for label in labels}
    sequential, population = (by[label] for label in labels)
    seeds = sorted(set(sequential) & set(population))
    noise = statistics.fmean(sequential[seed]["seed_noise"] for seed in seeds)
    rows = {}
    for label in labels:
        rows[label] = {
            key: stats.spread([by[label][seed][key] for seed in seeds])
            for key in ("seconds", "confirmed_objective")
        }
    difference = [
        population[s]["confirmed_objective"] - sequential[s]["confirmed_objective"] for s in seeds
    ]
    paired = stats.spread(difference)
    kept = paired.mean >= -noise
    verdict = f"population {'keeps' if kept else 'changes'} the answer"
    return {"seeds": seeds, "noise": noise, "rows": rows, "paired": paired, "verdict": verdict}


def markdown(result: dict, args, info: dict, seconds: float) -> str:
    rows = [
        [label, str(r["seconds"]), str(r["confirmed_objective"])]
        for label, r in result["rows"].items()
    ]
    return "\n".join(
        [
            "## A whole study, one trial at a time against populations",
            "",
            f"Command: `{report.command_line()}` ({seconds / 60:.0f} min).",
            "",
            f"The default study (`python -m studies.run`{' --quick subset' if args.quick else ''}"
            f") on sampler seeds {', '.join(map(str, result['seeds']))}, with its confirmation "
            f"of the top {args.confirm_top} over {args.confirm_seeds} fresh seeds; wall seconds "
            "of the whole command and the winner's confirmed objective, mean ± sd over the "
            "seeds.",
            "",
            table(["how", "wall s", "confirmed objective"], rows),
            "",
            f"Population minus one at a time, paired by seed: {result['paired']} (pooled seed "
            f"sd {result['noise']:.4f}): {result['verdict']}.",
            "",
            *report.describe_machine(info),
        ]
    )


def check(parser, args) -> None:
    cli.require_data_dir(parser)
    if len(set(args.seeds)) < len(args.seeds):
        parser.error("argument --seeds: a seed is given twice")


def main(argv=None) -> int:
    parser = cli.parser("population_study", __doc__)
    parser.add_argument("--quick", action="store_true", help="12 trials of 6 epochs, 5,000 images")
    parser.add_argument("--seeds", type=count, nargs="+", default=[0, 1, 2], help="sampler seeds")
    parser.add_argument(
        "--population",
        type=at_most("population"),
        default=8,
        help="the population's size K (8)",
    )
    parser.add_argument("--confirm-top", type=positive_int, default=2, help="configurations (2)")
    parser.add_argument("--confirm-seeds", type=positive_int, default=3, help="fresh seeds (3)")
    report.add_output_options(parser)
    return cli.run(parser, argv, check, measure)


if __name__ == "__main__":
    sys.exit(main())
