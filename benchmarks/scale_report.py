"""The scale benchmark's section: its summary, Optuna's sampling cost, each case's steps."""

from __future__ import annotations

import dataclasses

from benchmarks import report, sampler_cost, scale_plan

# Optuna's steps; every other step is kerasnn's own (what it adds on top of Optuna).
OPTUNA_STEPS = ("ask", "sampling", "tell", "pruning reports", "heartbeats")


@dataclasses.dataclass(frozen=True)
class Growth:
    """How a cost grows with the study's size, from (size, cost) points: the slope of a
    straight line fitted to them (cost per trial of size), the exponent of a fitted power
    law, and its word. A cost that is a constant plus a part proportional to the size is
    "linear" once that part, at the largest size, is at least the constant (a power law
    fitted to it would call it constant, its exponent well below 1); "quadratic" when the
    power law's exponent is 1.5 or more; "constant" otherwise."""

    exponent: float | None
    slope: float = 0.0
    word: str = "too few sizes"

    def rate(self, unit: str, scale: float) -> str:
        """The slope per 1,000 trials, in `unit` (`scale` units a second)."""
        return f"{self.slope * 1000 * scale:+.1f} {unit} per 1,000 trials"


def fit(points: list[tuple[float, float]]) -> Growth:
    import numpy as np

    points = [(size, cost) for size, cost in points if size > 0 and cost > 0]
    if len(points) < 2:
        return Growth(None)
    sizes, costs = (np.array(values) for values in zip(*points, strict=True))
    exponent = float(np.polyfit(np.log(sizes), np.log(costs), 1)[0])
    slope, constant = (float(value) for value in np.polyfit(sizes, costs, 1))
    if exponent >= 1.5:
        word = "quadratic"
    elif slope > 0 and slope * sizes.max() >= max(constant, 0.0):
        word = "linear"
    else:
        word = "constant"
    return Growth(exponent, slope, word)


def growth(segments: list[dict], step: str | None) -> Growth:
    """How one step's CPU seconds per trial grow with the study's size (`step` None: the
    whole bookkeeping), fitted over the segments by each one's middle size: constant,
    linear or quadratic per trial."""
    return fit(
        [
            (
                (s["from"] + s["size"]) / 2,
                s["cpu_per_trial"] if step is None else s["steps"].get(step, (0, 0))[1],
            )
            for s in segments
        ]
    )


def milliseconds(seconds: float) -> str:
    return f"{1000 * seconds:.1f}"


def case_title(case: dict) -> str:
    return f"{case['storage']}, {case['workers']} worker(s), {case['part']}"


def case_table(case: dict) -> list[str]:
    """One case: each step's CPU ms per trial at each size, its growth."""
    segments = case["segments"]
    steps = sorted({step for s in segments for step in s["steps"]})
    sizes = [f"{s['from']:,}-{s['size']:,}" for s in segments]
    lines = [
        f"**{case_title(case)}** (`--sampler {case['sampler']}`, {case['seconds']:g} s a run): "
        "CPU ms per trial by step, for trials numbered in each range",
        "",
        "| step | whose | " + " | ".join(sizes) + " | growth |",
        "|---|---|" + "---|" * len(sizes) + "---|",
    ]
    for step in steps:
        whose = "Optuna" if step in OPTUNA_STEPS else "untimed" if step == "other" else "kerasnn"
        cells = [milliseconds(s["steps"].get(step, (0, 0))[1]) for s in segments]
        shown = per_trial(growth(segments, step))
        lines.append(f"| {step} | {whose} | " + " | ".join(cells) + f" | {shown} |")
    shown = per_trial(growth(segments, None))
    for label, key in [
        ("all bookkeeping, CPU", "cpu_per_trial"),
        ("kerasnn's own, CPU", "own_cpu_per_trial"),
        ("all bookkeeping, wall", "wall_per_trial"),
    ]:
        cells = [milliseconds(s[key]) for s in segments]
        lines.append(
            f"| **{label}** | | "
            + " | ".join(cells)
            + (f" | {shown} |" if key == "cpu_per_trial" else " | |")
        )
    cells = [f"{s['start_up_cpu']:.1f}" for s in segments if "start_up_cpu" in s]
    if len(cells) == len(segments):
        lines.append(
            "| **a process's start-up before its first run, CPU s (mean)** | | "
            + " | ".join(cells)
            + f" | {start_up_growth(segments)} |"
        )
    return lines


def per_trial(found: Growth) -> str:
    if found.exponent is None:
        return found.word
    return f"{found.word} per trial ({found.rate('ms', 1000)})"


def start_up_growth(segments: list[dict]) -> str:
    """How a process's start-up grows with the size of the study it joins (the size it
    starts at): constant, or linear when it reads the whole study."""
    found = fit([(s["from"], s["start_up_cpu"]) for s in segments])
    if found.exponent is None:
        return found.word
    return f"{found.word} in the study's size ({found.rate('s', 1)})"


def dashboard_cells(measured: dict) -> list[str]:
    """The dashboard's study JSON seconds (first, again), its importances' and its study
    page's (list page)."""
    failed = measured.get("skipped") or measured.get("error")
    if failed:
        return [failed] * 3
    json_cell = f"{measured['json_seconds']:.2f} ({measured['json_again_seconds']:.2f})"
    importances = measured["importances_seconds"]
    if not isinstance(importances, str):
        importances = f"{importances:.2f}"
    if "study_page_seconds" not in measured:
        return [json_cell, importances, measured["page"]]
    page = f"{measured['study_page_seconds']:.1f} ({measured['list_page_seconds']:.1f})"
    if not measured["page_names_study"]:
        page += ", the page does not name the study"
    return [json_cell, importances, page]


def summary_table(cases: list[dict]) -> list[str]:
    lines = [
        "| case | sampler | trials | s a run | own CPU ms/trial (last range) | share of a run | "
        "storage MB | peak MB per process | --report-only s | its peak MB | open_study s | "
        "planned runs: CPU ms each | dashboard study JSON s: first (again) | "
        "dashboard importances s | dashboard study page s (list page) | no-loss check |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in cases:
        last = case["segments"][-1]
        share = last["own_cpu_per_trial"] / case["seconds"]
        checked = "passed" if not case["problems"] else f"FAILED: {case['problems'][0]}"
        cells = [
            case_title(case),
            case["sampler"],
            f"{last['size']:,}",
            f"{case['seconds']:g}",
            milliseconds(last["own_cpu_per_trial"]),
            f"{share:.1%}",
            f"{case['storage_mb']:.1f}",
            f"{max(s['peak_mb'] for s in case['segments']):.0f}",
            f"{case['report_only']['wall']:.1f}",
            f"{case['report_only']['peak_mb']:.0f}",
            f"{case['open_study_seconds']:.2f}",
            milliseconds(case["stages"]["cpu_per_trial"]),
            *dashboard_cells(case["dashboard"]),
            checked,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def samplers_used(cases: list[dict]) -> str:
    """Which sampler each part of the plan used, and why."""
    parts: dict[str, dict[str, int]] = {}
    for case in cases:
        counted = parts.setdefault(case["sampler"], {})
        counted[case["part"]] = counted.get(case["part"], 0) + 1
    return " ".join(
        f"`--sampler {sampler}` in the {' and '.join(counted)} "
        f"case{'s' * (sum(counted.values()) > 1)}: {scale_plan.WHY_SAMPLER[sampler]}."
        for sampler, counted in parts.items()
    )


def sampling_text(sampling: list[dict], cases: list[dict]) -> list[str]:
    """Optuna's sampling cost table, and what it means for the largest case's study."""
    largest = max(cases, key=lambda case: case["segments"][-1]["size"])
    return [
        "**Optuna's own sampling time per trial**, in memory (`benchmarks/sampler_cost.py`): "
        "a study of the `overfitting` search space filled with that many finished trials, "
        "then the median of "
        f"{sampler_cost.ASKS} ask-and-suggest calls with each sampler as the studies build it "
        "(TPE with kerasnn's settings: multivariate, grouped, constant liar).",
        "",
        *sampler_cost.table(sampling),
        "",
        sampler_cost.verdict(sampling, largest["seconds"], largest["workers"]),
        "",
    ]


def render(measured: dict, stages: list[str], info: dict[str, str]) -> str:
    """The section from what a run measured ({"command", "sampling", "cases"}, as its JSON
    holds it): written by the run itself, or later from its JSON (--from-json)."""
    cases, sampling = measured["cases"], measured["sampling"]
    lines = [
        "## kerasnn's bookkeeping at scale",
        "",
        commands_line(measured.get("command") or command_of(cases)),
        "",
        "**Training is replaced by a stand-in in these figures** (`benchmarks/stand_in.py`: a "
        "sleep of each case's seconds a run and a seeded 20-epoch history); every other step "
        "is the real `studies.run`, on real storages and real worker processes. Bookkeeping is "
        "everything but the stand-in, as CPU seconds per trial summed over the processes (wall "
        "seconds inflate when processes share few cores). Each study grew through its case's "
        "sizes (each a continuation of the last, search only; the ranges of its table below), "
        "where a case trains only the last trials of each size (`--measured`), the study is "
        "brought up to them with copies of its trained trials (same parameters, values, "
        "curves and records, marked `inserted_by_benchmark`, left out of the no-loss check), "
        "so the ranges measured are those the engine trained; each grown study "
        f"then trained its confirmation (`{' '.join(stages)}`). Steps are timed in each "
        "process from its first run on; a step called inside another counts in the inner one "
        "only. Growth is read from a straight line fitted to a step's CPU per trial over the "
        'ranges (by each range\'s middle): its slope per 1,000 trials, and "linear per trial" '
        "(so quadratic in the study's size overall) once the part that grows, at the largest "
        'size, outweighs the constant part, "quadratic per trial" when a power law fitted '
        'to it has an exponent of 1.5 or more, "constant per trial" otherwise. '
        "optuna-dashboard (`benchmarks/dashboard_load.py`) served "
        "each grown study: its study JSON timed twice (the first fills its cache of finished "
        "trials), its parameter importances, then, with those cached, the study page as "
        "headless Chromium dumps it, beside the study list page, which loads no trials "
        "(Chromium's own start).",
        "",
        samplers_used(cases),
        "",
        *summary_table(cases),
        "",
        *targets(cases),
        *sampling_text(sampling, cases),
    ]
    for case in cases:
        lines += [*case_table(case), ""]
    lines += [*unmeasured(cases), _loads(measured), ""]
    return "\n".join([*lines, *report.describe_machine(info)])


# The targets a study of the target case's size is held to.
SHARE_OF_A_RUN, REPORT_SECONDS, REPORT_MB = 0.05, 60, 2048


def targets(cases: list[dict]) -> list[str]:
    """Each target judged on the target case, met or not, from its figures."""
    case = next((c for c in cases if c["part"] == "target"), None)
    if case is None:
        return []
    last = case["segments"][-1]
    share = last["own_cpu_per_trial"] / case["seconds"]
    own = [step for step in last["steps"] if step not in (*OPTUNA_STEPS, "other")]
    growths = {step: growth(case["segments"], step) for step in own}
    report_run = case["report_only"]
    fast_report = report_run["wall"] <= REPORT_SECONDS and report_run["peak_mb"] <= REPORT_MB
    title = f"{case_title(case)} at {last['size']:,} trials"
    return [
        f"**Targets**, judged on {title}:",
        "",
        f"- kerasnn's own bookkeeping at most {SHARE_OF_A_RUN:.0%} of a {case['seconds']:g} s "
        f"run: {milliseconds(last['own_cpu_per_trial'])} ms CPU a trial, {share:.1%}: "
        + ("**met**" if share <= SHARE_OF_A_RUN else "**not met**"),
        "- no step of kerasnn's own growing faster than linearly (its cost per trial, fitted "
        "over the sizes): " + _growth_verdict(growths),
        f"- `--report-only` within {REPORT_SECONDS} s and {REPORT_MB / 1024:g} GB: "
        f"{report_run['wall']:.1f} s, {report_run['peak_mb']:.0f} MB: "
        + ("**met**" if fast_report else "**not met**"),
        "- no lost, duplicated or wrongly retried trial, in any case: "
        + ("**met**" if not any(c["problems"] for c in cases) else "**not met**"),
        "",
    ]


def _growth_verdict(growths: dict[str, Growth]) -> str:
    known = {step: g for step, g in growths.items() if g.exponent is not None}
    if not known:
        return "not judged: too few sizes"
    faster = [
        f"{step} ({g.rate('ms', 1000)})" for step, g in known.items() if g.word == "quadratic"
    ]
    linear = [f"{step} ({g.rate('ms', 1000)})" for step, g in known.items() if g.word == "linear"]
    verdict = "**met**" if not faster else f"**not met**: {'; '.join(faster)}"
    return verdict + (f"; linear per trial: {'; '.join(linear)}" if linear else "; all constant")


# What makes two runs' cases the same case.
CASE_KEYS = ("storage", "workers", "sizes", "seconds", "sampler")


def combine(runs: list[dict]) -> dict:
    """One run's measures from several: the first run's sampling, its cases in their order,
    each case a later run measured again replaced by the later one in its place (keeping
    its part of the plan), the later runs' new cases after them; the commands of all."""
    cases: dict[tuple, dict] = {}
    for run in runs:
        for case in run["cases"]:
            key = tuple(str(case[name]) for name in CASE_KEYS)
            earlier = cases.get(key)  # A dict keeps a replaced key in its place.
            cases[key] = case if earlier is None else {**case, "part": earlier["part"]}
    commands = [run.get("command", "not recorded") for run in runs]
    command = commands[0] if len(runs) == 1 else commands
    return {**runs[0], "cases": list(cases.values()), "command": command}


def commands_line(command: str | list[str]) -> str:
    """The section's command line; of runs combined, the first and each that re-measured
    some of its cases."""
    if isinstance(command, str):
        return f"Command: `{command}`"
    again = ", then ".join(f"`{c}`" for c in command[1:])
    return f"Commands: `{command[0]}`, then {again}, whose cases replace the same cases before"


def command_of(cases: list[dict]) -> str:
    """The command of a run whose JSON did not record it: the full plan's where its cases
    are the plan's first ones, else unknown."""
    plan = [dataclasses.asdict(case) for case in scale_plan.full_plan()]
    keys = ("storage", "workers", "part")
    ours = [tuple(c[k] for k in keys) for c in cases]
    if ours == [tuple(c[k] for k in keys) for c in plan][: len(ours)]:
        return "python -m benchmarks.scale"
    return "not recorded"


def unmeasured(cases: list[dict]) -> list[str]:
    """A line naming the cases of the full plan that a full run stopped before, if any."""
    if command_of(cases) != "python -m benchmarks.scale":
        return []
    missing = [f"{c.storage} with {c.workers}" for c in scale_plan.full_plan()[len(cases) :]]
    if not missing:
        return []
    return [
        f"The run was stopped after {len(cases)} of the plan's "
        f"{len(scale_plan.full_plan())} cases; not measured: {', '.join(missing)} "
        "worker(s).",
        "",
    ]


def _loads(measured: dict) -> str:
    """The machine's load average at the end of each case, or of the run, as recorded."""
    cases = measured["cases"]
    loads = [
        f"{c['load_average']} after {c['storage']}, {c['workers']}"
        for c in cases
        if "load_average" in c
    ]
    if loads:
        return "Load average (1, 5, 15 min) at the end of each case: " + "; ".join(loads) + "."
    return f"Load average when written: {measured.get('load_average', 'not recorded')}."
