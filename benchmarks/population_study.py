"""The default job one trial at a time against `--population K`, over sampler seeds.

    python -m benchmarks.population_study [--population K] [--seeds 0 1 2] [--quick]
                                          [--resume | --report-only]

Runs `python -m studies.run` (the default job: the default study's search, a confirmation of
its top 3 configurations over 3 fresh seeds, and its report) twice per sampler seed, on fresh
journal storages: with
`--population 1` (today's path, one trial at a time) and with `--population K` (trials asked
K at a time and trained as populations on the JAX backend). Per seed it records the wall
time of the whole command, what the populations spent compiling, and the confirmed
objective of the winner; the population keeps the answer when its confirmed objective,
paired by seed with the sequential one, is on average no more than one pooled seed sd below
it (the pruning benchmark's rule).

JAX's persistent compilation cache is a fresh folder for each run of the benchmark, shared
by its studies: the first population study compiles its programs, later ones load those
they share. Every study is added to the JSON as it ends; --resume skips those it holds.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import cli, report
from benchmarks import study as study_benchmark
from kerasnn import stats
from studies.cli.options import at_most, count, positive_int
from studies.errors import RuntimeFault
from studies.report.markdown import table

JSON = report.ROOT / "reports" / "benchmarks-population-study.json"
SEQUENTIAL = "one at a time"
# Seeds the answer's rule needs, as the pruning benchmark's: fewer cannot tell.
MIN_SEEDS = 3


def labels(population: int) -> dict[str, list[str]]:
    """How -> the studies.run options it adds."""
    return {
        SEQUENTIAL: ["--population", "1"],
        f"population {population}": ["--population", str(population)],
    }


def measure(args) -> None:
    target = study_benchmark.json_path(args, JSON)
    stored = study_benchmark.load_stored(target) if args.resume or args.report_only else {}
    records = stored.get("records", [])
    info = (stored.get("machine") if args.report_only else None) or report.machine()
    hows = labels(args.population)
    started = time.perf_counter()
    if not args.report_only:
        job_of([*records, {"job": job(args)}], args)  # A resumed run must run the same job.
        run_missing(args, hows, records, lambda: save(target, records, info))
    result = summarise(records, list(hows))
    result["job"] = job_of(records, args)
    text = markdown(result, args, info, time.perf_counter() - started)
    checks = [result["verdict"], f"wall time, population over one at a time: {result['ratio']}"]
    name = report.device_section(section(args), info)
    report.publish(name, text, checks, [], study_benchmark.args_without_json(args))


def run_missing(args, hows: dict[str, list[str]], records: list[dict], saved) -> None:
    """Runs every (how, seed) that `records` lacks, adding each record as its study ends."""
    with tempfile.TemporaryDirectory(prefix="kerasnn-jax-cache-") as cache:
        before = os.environ.get("JAX_COMPILATION_CACHE_DIR")
        os.environ["JAX_COMPILATION_CACHE_DIR"] = cache  # The studies' environment.
        try:
            for seed in args.seeds:
                for how, options in hows.items():
                    if any(r["strategy"] == how and r["seed"] == seed for r in records):
                        continue
                    record = study_benchmark.run_one(how, seed, None, args, options, report=True)
                    record["job"] = job(args)
                    print(study_benchmark.describe_run(record), flush=True)
                    records.append(record)
                    saved()
        finally:
            os.environ.pop("JAX_COMPILATION_CACHE_DIR")
            if before is not None:
                os.environ["JAX_COMPILATION_CACHE_DIR"] = before


def job(args) -> dict:
    """What each study of the benchmark ran after its search: kept on its record."""
    return {"confirm_top": args.confirm_top, "confirm_seeds": args.confirm_seeds, "report": True}


def job_of(records: list[dict], args) -> dict:
    """The job the records ran (records from before jobs were kept: the command's options,
    without a report); refuses records of different jobs, which cannot be compared."""
    jobs = {json.dumps(r.get("job"), sort_keys=True) for r in records}
    if len(jobs) > 1:
        raise RuntimeFault(f"the runs in the JSON ran different jobs: {', '.join(sorted(jobs))}")
    found = records[0].get("job") if records else None
    return found or {**job(args), "report": False}


def save(target: Path | None, records: list[dict], info: dict) -> None:
    if target:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps({"records": records, "machine": info}, indent=2) + "\n")


def section(args) -> str:
    return "population-study-quick" if args.quick else "population-study"


def summarise(records: list[dict], hows: list[str]) -> dict:
    """Per how: mean ± sd over the seeds both ran; the population's paired wall-time ratio,
    paired difference and verdict."""
    by = {how: {r["seed"]: r for r in records if r["strategy"] == how} for how in hows}
    sequential, population = (by[how] for how in hows)
    seeds = sorted(set(sequential) & set(population))
    if not seeds:
        raise RuntimeFault(f"no seed has both a {hows[0]!r} and a {hows[1]!r} study")
    noise = statistics.fmean(sequential[seed]["seed_noise"] for seed in seeds)
    rows = {
        how: {
            # Records older than the compile figures have none: NaN, "not recorded".
            key: stats.spread([by[how][seed].get(key, math.nan) for seed in seeds])
            for key in ("seconds", "compile_seconds", "confirmed_objective")
        }
        for how in hows
    }
    ratio = stats.spread([population[s]["seconds"] / sequential[s]["seconds"] for s in seeds])
    paired = stats.spread(
        [population[s]["confirmed_objective"] - sequential[s]["confirmed_objective"] for s in seeds]
    )
    if len(seeds) < MIN_SEEDS:
        verdict = f"{len(seeds)} seed(s) cannot tell whether the population keeps the answer"
        verdict += f" (the rule needs {MIN_SEEDS})"
    else:
        verdict = f"population {'keeps' if paired.mean >= -noise else 'changes'} the answer"
    per_seed = [[str(seed), *(f"{by[how][seed]['seconds']:.1f}" for how in hows)] for seed in seeds]
    return {
        "seeds": seeds,
        "noise": noise,
        "rows": rows,
        "per_seed": per_seed,
        "ratio": stats.plus_minus(ratio.mean, ratio.sd, ".2f"),
        "paired": paired,
        "verdict": verdict,
    }


def markdown(result: dict, args, info: dict, seconds: float) -> str:
    def seconds_of(spread) -> str:
        if math.isnan(spread.mean):
            return "not recorded"
        return stats.plus_minus(spread.mean, spread.sd, ".1f") + (
            " (1 run)" if spread.n < 2 else ""
        )

    rows = [
        [
            how,
            seconds_of(r["seconds"]),
            seconds_of(r["compile_seconds"]),
            str(r["confirmed_objective"]),
        ]
        for how, r in result["rows"].items()
    ]
    how = "rebuilt from the runs in the JSON" if args.report_only else f"{seconds / 60:.0f} min"
    hows, ran = list(result["rows"]), result["job"]
    return "\n".join(
        [
            "## A whole study, one trial at a time against populations"
            + (" (quick)" if args.quick else ""),
            "",
            f"Command: `{report.command_line()}` ({how}).",
            "",
            f"The default study (`python -m studies.run`{' --quick subset' if args.quick else ''}"
            f") on sampler seed{'s' if len(result['seeds']) > 1 else ''} "
            f"{', '.join(map(str, result['seeds']))}, with its confirmation "
            f"of the top {ran['confirm_top']} over {ran['confirm_seeds']} fresh seeds: wall "
            f"seconds of the whole command (start-up, search, confirmation"
            f"{', report' if ran['report'] else ''}; one at a time on Keras' "
            f"{sequential_backend(info)} backend, populations on JAX), the seconds its populations "
            "spent compiling (or loading) programs, and the winner's confirmed objective, mean ± "
            "sd over the seeds. JAX's persistent compilation cache started empty and was shared "
            "by the benchmark's studies, in the order of the seeds: the first population study "
            "compiled its programs, later ones loaded the programs they shared.",
            "",
            table(["how", "wall s", "compile s", "confirmed objective"], rows),
            "",
            table(["seed", *(f"{h}, wall s" for h in hows)], result["per_seed"]),
            "",
            f"Wall time, population over one at a time, paired by seed: {result['ratio']}.",
            "",
            f"Confirmed objective, population minus one at a time, paired by seed: "
            f"{result['paired']} (pooled seed sd {result['noise']:.4f}): {result['verdict']}.",
            "",
            *report.describe_machine(info),
        ]
    )


def sequential_backend(info: dict) -> str:
    """The backend the studies one at a time ran on: the benchmark's own, whose KERAS_BACKEND
    they inherit, as its machine's versions name it."""
    found = re.search(r"\((\w+) backend\)", info.get("versions", ""))
    return found.group(1) if found else "unknown"


def check(parser, args) -> None:
    cli.require_data_dir(parser)
    if len(set(args.seeds)) < len(args.seeds):
        parser.error("argument --seeds: a seed is given twice")
    study_benchmark.check_stored(parser, args, study_benchmark.json_path(args, JSON))


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
    parser.add_argument("--confirm-top", type=positive_int, default=3, help="configurations (3)")
    parser.add_argument("--confirm-seeds", type=positive_int, default=3, help="fresh seeds (3)")
    runs = parser.add_mutually_exclusive_group()
    runs.add_argument("--resume", action="store_true", help="keep the runs --json holds")
    runs.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: summarise the runs --json holds and write the report again",
    )
    report.add_output_options(parser)
    return cli.run(parser, argv, check, measure)


if __name__ == "__main__":
    sys.exit(main())
