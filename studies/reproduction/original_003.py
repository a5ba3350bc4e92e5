"""Seed 003: the cross-entropy table, then batch size, dropout, L1/L2 placement and activation
judged by overfitting, on Fashion-MNIST and (when run) MNIST.

The seed gives no numbers for its training experiments, so its claims are tested. Claims that
compare settings closer than the run-to-run noise rest on the settings' seeds (see
reproduce_003.REPEATED) and say "tied" where the seeds cannot tell them apart.
"""

from __future__ import annotations

import numpy as np

from studies import reproduce_003 as study
from studies.engine.effects import Effects, extreme, label, shown
from studies.reproduction.claims import Figure, Heading, Section, Series, Table, Text
from studies.reproduction.runs import LATE_EPOCHS, Run, Runs
from studies.reproduction.verdicts import (
    ACCURACY_TOLERANCE,
    MIN_SEEDS,
    Sample,
    claim_verdict,
    combined,
    enough_seeds,
    least_verdict,
    lower_verdict,
    lowest,
    order,
    verdict,
)

NUMBER = "003"
# The seed's table of C(y, a) for a = 0.1 ... 0.9.
CROSS_ENTROPY = {
    0.2: [0.54480543111, 0.50040242353, 0.52613451601, 0.59191864538, 0.69314718055,
          0.83519771024, 1.03451323224, 1.33217904021, 1.86314017753],
    0.4: [0.98425034658, 0.77766129575, 0.69559408809, 0.67301166701, 0.69314718055,
          0.75410468862, 0.86505366016, 1.05492016798, 1.42369526206],
    0.7: [1.64341771979, 1.19354960409, 0.9497834462, 0.79465119944, 0.69314718055,
          0.63246515619, 0.61086430204, 0.63903185965, 0.76452788885],
}  # fmt: skip
ACTIVATIONS = np.round(np.arange(0.1, 1.0, 0.1), 1)
# The seed's table has 11 digits; Keras computes in float32.
CROSS_ENTROPY_TOLERANCE = 1e-5

PLAIN = "batch=100"  # The tutorial network: relu, no dropout, no penalty.
LARGE_BATCHES = ["batch=3000", "batch=5000", "batch=7000"]
DROPOUTS = [f"dropout={rate}" for rate in (0.1, 0.2, 0.3, 0.4, 0.5)]
PLACES = ("hidden", "output", "both")
PENALTIES = [f"{name} 0.01 {place}" for name in ("L1", "L2") for place in PLACES]
PENALTIES.append("L1+L2 0.01 hidden")
ACTIVATION_SETTINGS = [PLAIN] + [f"activation={name}" for name in ("sigmoid", "tanh", "elu")]
OPTIMAL = ["dropout=0.3", "sigmoid dropout=0.3", "dropout=0.3 L2 0.01 output"]
SWEEPS = {
    "batch": [f"batch={size}" for size in (100, 500, 1000, 3000, 5000, 7000)],
    "dropout": [PLAIN, *DROPOUTS],
    "penalty": [PLAIN, *PENALTIES],
    "activation": ACTIVATION_SETTINGS,
    "optimal": [PLAIN, *OPTIMAL],
}
LABELS = {PLAIN: "batch=100 (relu, no dropout, no penalty)"}

DID = (
    "**The seed** showed by a table that the binary cross-entropy is minimised at a = y, then "
    "changed the TensorFlow tutorial's Fashion-MNIST network one hyperparameter at a time "
    "(batch size, dropout, L1/L2 placement, activation), judging settings by how much the "
    "training and validation curves separate, and named three 'optimal' configurations."
)
NOT_MATCHED = (
    "**Not matched.** The seed gives no numbers for its training experiments (its figures are "
    "lost in the OCR), so its claims are tested rather than its values compared. Its epoch "
    "count is unknown; we train 15 epochs. The seed's later mixed runs (batch 100-7000 with "
    "dropout 0.4, L1+L2 on the output layer) are not repeated. The training experiments ran "
    "on Fashion-MNIST and, as a second check, on MNIST."
)
CROSS_ENTROPY_NOTE = (
    "Computed with `keras.losses.binary_crossentropy` (float32; Keras clips a to "
    "[1e-7, 1 - 1e-7]), not trained."
)
CLAIMS_NOTE = (
    "Overfitting is measured as the training-minus-validation accuracy gap averaged over the "
    "last {late} epochs (both in inference mode); accuracy as the best validation accuracy. "
    "Settings run with several seeds show mean ± sd over seeds."
)
NOT_TRAINED = "The training experiments have not been run yet."
MNIST_NOTE = "Run with `python -m studies.run reproduce-003 --dataset mnist`; same settings."
CLAIMS_HEADER = ["seed's claim", "ours", "difference", "verdict"]
TUNED_NOTE = (
    "The seed changed one hyperparameter at a time away from the tutorial network. The "
    "default study's effects stage does the same around its tuned winner (trial {source}: "
    "{params}): each scientific hyperparameter varied alone, the others held at the winner's "
    "values, each variant over {seeds} fresh seeds, differences judged by Welch's t-test at "
    "95%; a penalty the winner lacks runs at {references}. Do the seed's claims hold around a "
    "tuned network too? (Not counted in the overview: "
    "another experiment.)"
)
NOT_TUNED = (
    "The effects around the default study's tuned winner have not been run "
    "(`python -m studies.run --effects-seeds 3`)."
)
TUNED_HEADER = ["seed's claim", "at the seed's baseline", "around the tuned winner", "verdict"]
PENALTY_CLAIMS = [
    "L1 0.01 on the hidden layer reduces overfitting",
    "L1 on both layers: worse accuracy than on the hidden layer",
    "L2 0.01 gives better accuracy than L1 0.01 (same layer)",
    "L2 0.01 on hidden or output is the best penalty",
    "L1+L2 on hidden: less overfitting, slightly lower accuracy than L2 alone",
]


def cross_entropy_table(targets=tuple(CROSS_ENTROPY), activations=ACTIVATIONS) -> dict:
    """Binary cross-entropy C(y, a) = -y ln a - (1 - y) ln(1 - a), computed by Keras.

    Returns:
        {y: array of C(y, a) for each a in `activations`}.
    """
    import keras

    activations = np.asarray(activations, dtype=np.float32).reshape(-1, 1)
    losses = {}
    for target in targets:
        truth = np.full_like(activations, target)
        values = keras.losses.binary_crossentropy(truth, activations)
        losses[target] = np.asarray(keras.ops.convert_to_numpy(values), dtype=np.float64)
    return losses


def section(runs: Runs, mnist: Runs | None = None, tuned: Effects | None = None) -> Section:
    """The seed's section; `tuned` holds the default study's effects around its tuned winner
    (None where they have not been run)."""
    datasets = [study.DEFAULTS["dataset"]] + (["mnist"] if mnist and mnist.ran else [])
    result = Section(NUMBER, study, datasets, DID, NOT_MATCHED)
    result.command = runs.command
    result.data = [one.data for one in (runs, mnist) if one and one.data]
    computed = cross_entropy_table()
    result.blocks = _cross_entropy_blocks(computed)
    result.findings = [_cross_entropy_finding(computed)]
    if not runs.ran:
        result.blocks += [Text(NOT_TRAINED), *_tuned_blocks(None, tuned)]
        return result
    claims = _claims(runs)
    result.blocks += _training_blocks(runs, claims, "Fashion-MNIST", "", "003")
    result.blocks += _tuned_blocks(claims, tuned)
    result.findings += _training_findings(runs, claims)
    if mnist and mnist.ran:
        mnist_claims = _claims(mnist)
        result.blocks += [Heading("The same experiments on MNIST"), Text(MNIST_NOTE)]
        result.blocks += _training_blocks(mnist, mnist_claims, "MNIST", "MNIST: ", "003-mnist")
        result.findings.append(_mnist_finding(claims, mnist_claims))
    return result


def _cross_entropy_blocks(computed: dict) -> list:
    rows = []
    for target, seed_values in CROSS_ENTROPY.items():
        ours = computed[target]
        minimum = ACTIVATIONS[int(np.argmin(ours))]
        for activation, seed_value, value in zip(ACTIVATIONS, seed_values, ours, strict=True):
            label = f"{activation:.1f}" + (" (minimum)" if activation == minimum else "")
            outcome = verdict(seed_value, float(value), tolerance=CROSS_ENTROPY_TOLERANCE)
            rows.append([target, label, seed_value, float(value), value - seed_value, outcome])
    header = ["y", "a", "seed C(y, a)", "ours", "difference", "verdict"]
    minima = {f"y{i}": t for i, t in enumerate(computed)}
    minima |= {f"a{i}": ACTIVATIONS[int(np.argmin(v))] for i, v in enumerate(computed.values())}
    parts = ", ".join(f"y = {{y{i}}}: a = {{a{i}}}" for i in range(len(computed)))
    return [
        Heading("Cross-entropy is minimised at a = y"),
        Text(CROSS_ENTROPY_NOTE),
        Table(header, rows, ["g", "", ".6f", ".6f", "+.1e", ""], counted=True),
        Text(f"Minimum over a for each y (ours): {parts}.", minima),
    ]


def _cross_entropy_finding(computed: dict) -> Text:
    largest = max(
        float(np.max(np.abs(computed[target] - np.array(seed))))
        for target, seed in CROSS_ENTROPY.items()
    )
    at_target = sum(
        ACTIVATIONS[int(np.argmin(values))] == target for target, values in computed.items()
    )
    return Text(
        "The cross-entropy table reproduces to within {largest:.1e} (float32), with its "
        "minimum at a = y for {at_target} of {targets} targets.",
        {"largest": largest, "at_target": at_target, "targets": len(computed)},
    )


def _val(runs: Runs, setting: str) -> Sample:
    return runs.sample(setting, Run.best, "val_accuracy")


def _gap(runs: Runs, setting: str) -> Sample:
    return runs.sample(setting, Run.late_gap)


def _training_blocks(runs: Runs, claims: Table, dataset: str, prefix: str, stem: str) -> list:
    blocks = []
    for sweep, settings in SWEEPS.items():
        blocks += [Heading(f"{prefix}{sweep.capitalize()} sweep"), _sweep_table(runs, settings)]
        blocks.append(
            Figure(
                "overlaid",
                f"{stem}-{sweep}.png",
                {"histories": {s: runs.history(s) for s in settings if runs.history(s)}},
                title=f"Seed 003 on {dataset}: {sweep} sweep",
                caption=f"{sweep} sweep",
            )
        )
    note = Text(CLAIMS_NOTE, {"late": LATE_EPOCHS})
    return [*blocks, Heading(f"{prefix}The seed's claims, tested"), note, claims]


def _sweep_table(runs: Runs, settings: list[str]) -> Table:
    rows = [
        [
            LABELS.get(setting, setting),
            len(runs.by_setting.get(setting, [])),
            _val(runs, setting),
            runs.sample(setting, Run.best, "test_accuracy"),
            runs.sample(setting, Run.final, "val_accuracy"),
            _gap(runs, setting),
            runs.sample(setting, Run.loss_rise),
        ]
        for setting in settings
    ]
    epochs = max((run.epochs() for run in runs.all()), default=0)
    header = ["setting", "seeds", "best val acc", "test acc (best epoch)"]
    header += [f"val acc (epoch {epochs})", f"gap, last {LATE_EPOCHS} epochs"]
    header.append("val loss rise from its minimum")
    return Table(header, rows, ["", "d", ".4f", ".4f", ".4f", "+.4f", ".4f"])


def _claims(runs: Runs) -> Table:
    rows = [
        _batch_claim(runs),
        _dropout_claim(runs),
        *_penalty_claims(runs),
        _activation_claim(runs),
        *_optimal_claims(runs),
    ]
    return Table(CLAIMS_HEADER, rows, ["", "", "+.4f", ""], counted=True)


def _too_few_seeds(claim: str, samples: list[Sample]) -> list | None:
    """The row of a claim within the noise whose settings lack seeds; None if they have them."""
    if enough_seeds(samples):
        return None
    fewest = min(sample.n for sample in samples)
    text = Text(
        "needs {minimum} seeds per setting; the fewest run is {fewest}",
        {"minimum": MIN_SEEDS, "fewest": fewest},
    )
    return [claim, text, None, "not run"]


def _batch_claim(runs: Runs) -> list:
    claim = "batch 3000-7000 overfit less than batch 100, but reach lower accuracy"
    plain_gap, plain_val = _gap(runs, PLAIN), _val(runs, PLAIN)
    gaps = [_gap(runs, setting).mean for setting in LARGE_BATCHES]
    vals = [_val(runs, setting).mean for setting in LARGE_BATCHES]
    if None in gaps or None in vals or not plain_gap.n:
        return [claim, None, None, "not run"]
    large_gap, large_val = Sample((float(np.mean(gaps)),)), Sample((max(vals),))
    outcome = combined(
        [
            lower_verdict(large_gap, plain_gap),
            lower_verdict(large_val, plain_val),
        ]
    )
    text = Text(
        "gap {plain_gap:+.4f} at 100 vs mean {large_gap:+.4f} at 3000-7000; best val acc "
        "{plain_val:.4f} vs at most {large_val:.4f}",
        {
            "plain_gap": plain_gap,
            "large_gap": large_gap,
            "plain_val": plain_val,
            "large_val": large_val,
        },
    )
    return [claim, text, large_gap.mean - plain_gap.mean, outcome]


def _seeded_gaps(claim: str, runs: Runs, settings) -> tuple[dict, list | None]:
    """The gap of each setting over seeds, and the claim's "not run" row if too few seeds."""
    gaps = {setting: _gap(runs, setting) for setting in settings}
    return gaps, _too_few_seeds(claim, list(gaps.values()))


def _dropout_claim(runs: Runs) -> list:
    claim = "dropout 0.4 overfits least (of 0.1-0.5, batch 100)"
    gaps, too_few = _seeded_gaps(claim, runs, DROPOUTS)
    if too_few:
        return too_few
    least, tied = lowest(gaps)
    steady = order(gaps["dropout=0.5"], gaps["dropout=0.1"]) == -1
    text = Text(
        "least gap at {least} ({least_gap:+.4f}); 0.4: {gap:+.4f}; tied with the least: {tied}",
        {
            "least": least,
            "least_gap": gaps[least],
            "gap": gaps["dropout=0.4"],
            "tied": ", ".join(s for s in tied if s != least) or "none",
        },
    )
    difference = gaps["dropout=0.4"].mean - gaps[least].mean
    return [claim, text, difference, least_verdict(gaps, "dropout=0.4", partly=steady)]


def _penalty_claims(runs: Runs) -> list[list]:
    gap = {setting: _gap(runs, setting) for setting in [PLAIN, *PENALTIES]}
    val = {setting: _val(runs, setting) for setting in [PLAIN, *PENALTIES]}
    if any(not sample.n for sample in [*gap.values(), *val.values()]):
        return [[claim, None, None, "not run"] for claim in PENALTY_CLAIMS]
    rows = [
        _lower_row(
            PENALTY_CLAIMS[0],
            "gap {first:+.4f} vs {second:+.4f} without",
            gap["L1 0.01 hidden"],
            gap[PLAIN],
        ),
        _lower_row(
            PENALTY_CLAIMS[1],
            "val acc {first:.4f} vs {second:.4f}",
            val["L1 0.01 both"],
            val["L1 0.01 hidden"],
        ),
    ]
    ahead = [lower_verdict(val[f"L1 0.01 {p}"], val[f"L2 0.01 {p}"]) for p in PLACES]
    text = Text(
        "L2 ahead on {ahead} of {places} placements",
        {"ahead": ahead.count("reproduced"), "places": len(PLACES)},
    )
    rows.append([PENALTY_CLAIMS[2], text, None, combined(ahead)])
    best = max(PENALTIES, key=lambda setting: val[setting].mean)
    text = Text("best val acc: {best} ({value:.4f})", {"best": best, "value": val[best]})
    holds = best in ("L2 0.01 hidden", "L2 0.01 output")
    rows.append([PENALTY_CLAIMS[3], text, None, claim_verdict(holds)])
    return [*rows, _l1_l2_claim(gap, val)]


def _lower_row(claim: str, template: str, first: Sample, second: Sample) -> list:
    """A claim that `first` is below `second`, as a table row."""
    text = Text(template, {"first": first, "second": second})
    return [claim, text, first.mean - second.mean, lower_verdict(first, second)]


def _l1_l2_claim(gap: dict, val: dict) -> list:
    both = "L1+L2 0.01 hidden"
    outcome = combined(
        [lower_verdict(gap[both], gap[PLAIN]), lower_verdict(val[both], val["L2 0.01 hidden"])]
    )
    text = Text(
        "gap {gap:+.4f} vs {plain:+.4f} without penalty; val acc {val:.4f} vs {l2:.4f} with "
        "L2 alone",
        {"gap": gap[both], "plain": gap[PLAIN], "val": val[both], "l2": val["L2 0.01 hidden"]},
    )
    return [PENALTY_CLAIMS[4], text, val[both].mean - val["L2 0.01 hidden"].mean, outcome]


def _activation_name(setting: str) -> str:
    return "relu" if setting == PLAIN else setting.split("=")[1]


def _activation_claim(runs: Runs) -> list:
    claim = "sigmoid reduces overfitting (vs relu, tanh, elu)"
    gaps, too_few = _seeded_gaps(claim, runs, ACTIVATION_SETTINGS)
    if too_few:
        return too_few
    least, tied = lowest(gaps)
    sigmoid = gaps["activation=sigmoid"]
    below_relu = order(sigmoid, gaps[PLAIN]) == -1
    text = Text(
        "least gap: {least} ({least_gap:+.4f}); tied with it: {tied}; sigmoid {sigmoid:+.4f}, "
        "relu {relu:+.4f}",
        {
            "least": _activation_name(least),
            "least_gap": gaps[least],
            "sigmoid": sigmoid,
            "relu": gaps[PLAIN],
            "tied": ", ".join(_activation_name(s) for s in tied if s != least) or "none",
        },
    )
    outcome = least_verdict(gaps, "activation=sigmoid", partly=below_relu)
    return [claim, text, sigmoid.mean - gaps[PLAIN].mean, outcome]


def _optimal_claims(runs: Runs) -> list[list]:
    settings = [PLAIN, *OPTIMAL]
    val = {setting: _val(runs, setting) for setting in settings}
    gap = {setting: _gap(runs, setting) for setting in settings}
    accurate = "relu/100/dropout 0.3 is more accurate than with L2 0.01 on the output"
    fewer = "the three 'optimal' models overfit less than the plain network"
    too_few = _too_few_seeds(accurate, list(val.values()))
    if too_few:
        return [too_few, [fewer, *too_few[1:]]]
    l2 = "dropout=0.3 L2 0.01 output"
    text = Text("val acc {plain:.4f} vs {l2:.4f}", {"plain": val["dropout=0.3"], "l2": val[l2]})
    difference = val["dropout=0.3"].mean - val[l2].mean
    rows = [[accurate, text, difference, lower_verdict(val[l2], val["dropout=0.3"])]]
    outcomes = [lower_verdict(gap[s], gap[PLAIN]) for s in OPTIMAL]
    parts = ", ".join(f"{setting}: {{g{i}:+.4f}}" for i, setting in enumerate(OPTIMAL))
    values = {f"g{i}": gap[setting] for i, setting in enumerate(OPTIMAL)}
    text = Text(f"gaps {parts}; plain {{plain:+.4f}}", {**values, "plain": gap[PLAIN]})
    return [*rows, [fewer, text, None, combined(outcomes)]]


def _training_findings(runs: Runs, claims: Table) -> list[Text]:
    verdicts = [row[-1] for row in claims.rows]
    plain = runs.first(PLAIN)
    findings = [
        Text(
            "In {epochs} epochs the plain network's gap is {gap:+.4f} and its validation loss "
            "ends {rise:.4f} above its minimum.",
            {
                "epochs": plain.epochs() if plain else None,
                "gap": _gap(runs, PLAIN),
                "rise": runs.sample(PLAIN, Run.loss_rise),
            },
        ),
        Text(
            "Of the seed's {claims} training claims, {reproduced} hold, {tied} are tied within "
            "the spread over seeds, {same} hold in part, {differs} do not and {missing} could "
            "not be judged.",
            {
                "claims": len(verdicts),
                "reproduced": verdicts.count("reproduced"),
                "tied": verdicts.count("tied"),
                "same": verdicts.count("same trend"),
                "differs": verdicts.count("differs"),
                "missing": verdicts.count("not run"),
            },
        ),
    ]
    return findings + [_dropout_finding(runs), _penalty_finding(runs), _optimal_finding(runs)]


def _dropout_finding(runs: Runs) -> Text:
    gaps = {setting: _gap(runs, setting) for setting in DROPOUTS}
    if not enough_seeds(gaps.values()):
        return Text("The dropout rates have too few seeds to be compared.")
    least, tied = lowest(gaps)
    others = [setting for setting in tied if setting != least]
    return Text(
        "Dropout: the gap is lowest at {least} ({least_gap:+.4f}) and {gap:+.4f} at 0.4; {tied}.",
        {
            "least": least,
            "least_gap": gaps[least],
            "gap": gaps["dropout=0.4"],
            "tied": "tied with it under the rule: " + ", ".join(others)
            if others
            else "no other rate is tied with it",
        },
    )


def _penalty_finding(runs: Runs) -> Text:
    underfitting = [s for s in PENALTIES if s.endswith(("hidden", "both"))]
    plain = _val(runs, PLAIN).mean
    costs = [plain - _val(runs, s).mean for s in underfitting if _val(runs, s).n]
    output = _val(runs, "L2 0.01 output")
    if plain is None or len(costs) < len(underfitting) or not output.n:
        return Text("Not every penalty has a result.")
    underfit = min(costs) > ACCURACY_TOLERANCE
    narrower = lower_verdict(_gap(runs, "L2 0.01 output"), _gap(runs, PLAIN)) == "reproduced"
    return Text(
        "Penalties on the hidden layer or on both layers {how} {low:.1f} to {high:.1f} points "
        "of validation accuracy (L1+L2 on the hidden layer "
        "is {l1l2:.1f} points below L2 alone); L2 on the output layer costs {output:.1f} points "
        "and {moves} the gap ({plain_gap:+.4f} without it, {output_gap:+.4f} with it).",
        {
            "how": "narrow the gap by underfitting: they cost" if underfit else "cost",
            "low": 100 * min(costs),
            "high": 100 * max(costs),
            "l1l2": 100
            * (_val(runs, "L2 0.01 hidden").mean - _val(runs, "L1+L2 0.01 hidden").mean),
            "output": 100 * (plain - output.mean),
            "moves": "narrows" if narrower else "does not narrow",
            "plain_gap": _gap(runs, PLAIN),
            "output_gap": _gap(runs, "L2 0.01 output"),
        },
    )


def _optimal_finding(runs: Runs) -> Text:
    val = {setting: _val(runs, setting) for setting in [PLAIN, *OPTIMAL]}
    gap = {setting: _gap(runs, setting) for setting in [PLAIN, *OPTIMAL]}
    if not enough_seeds(val.values()):
        return Text("The 'optimal' models have too few seeds to be compared.")
    ahead = [s for s in OPTIMAL if order(val[s], val[PLAIN]) == 1]
    tied = [s for s in OPTIMAL if order(val[s], val[PLAIN]) == 0]
    return Text(
        "The three 'optimal' models reach {vals:.4f} validation accuracy against the plain "
        "network's {plain:.4f} ({ahead} ahead of it, {tied} tied with it), with gaps "
        "{gaps:+.4f} against {plain_gap:+.4f}.",
        {
            "vals": Series(tuple(val[s] for s in OPTIMAL), "; "),
            "plain": val[PLAIN],
            "ahead": len(ahead),
            "tied": len(tied),
            "gaps": Series(tuple(gap[s] for s in OPTIMAL), "; "),
            "plain_gap": gap[PLAIN],
        },
    )


def _mnist_finding(claims: Table, mnist_claims: Table) -> Text:
    pairs = list(zip(claims.rows, mnist_claims.rows, strict=True))
    different = [first[0] for first, second in pairs if first[-1] != second[-1]]
    return Text(
        "On MNIST {same} of {claims} claims get the same verdict as on Fashion-MNIST{which}.",
        {
            "same": len(pairs) - len(different),
            "claims": len(pairs),
            "which": "; not: " + "; ".join(different) if different else "",
        },
    )


# The seed's claims set beside the effects around a tuned winner: (claim, hyperparameter,
# measure, lowest is the claim, the value it names).
TUNED_CLAIMS = [
    ("dropout 0.4 overfits least (of 0.1-0.5, batch 100)", "dropout_rate", "gap", True, 0.4),
    (PENALTY_CLAIMS[3], "penalty", "val_accuracy", False, "l2"),
    ("sigmoid reduces overfitting (vs relu, tanh, elu)", "activation", "gap", True, "sigmoid"),
]
MEASURE_WORDS = {"gap": "least gap", "val_accuracy": "highest validation accuracy"}


def _tuned_blocks(claims: Table | None, tuned: Effects | None) -> list:
    blocks = [Heading("The claims around a tuned network")]
    if tuned is None:
        return [*blocks, Text(NOT_TUNED)]
    winner = tuned.winner.variant.params
    values = {
        "source": tuned.source,
        "params": ", ".join(label(name, value) for name, value in winner.items()),
        "seeds": len(tuned.seeds),
        "references": ", ".join(label(k, v) for k, v in tuned.design.references.items())
        or "the winner's own strength and placement",
    }
    baseline = {row[0]: row[-1] for row in claims.rows} if claims else {}
    rows = [
        [claim, baseline.get(claim, "not run"), *_tuned_row(tuned, name, key, lowest, named)]
        for claim, name, key, lowest, named in TUNED_CLAIMS
    ]
    return [*blocks, Text(TUNED_NOTE, values), Table(TUNED_HEADER, rows, ["", "", "", ""])]


def _tuned_row(tuned: Effects, name: str, key: str, lowest: bool, named) -> list:
    """The effects' answer to one claim: its text and its verdict."""
    found = extreme(tuned, name, key, lowest)
    if found is None:
        return [Text("{name} not varied around the winner", {"name": name}), "not run"]
    best, tied = found
    swept = tuned.design.sweeps[name]
    if isinstance(named, str) and named not in swept:
        return [Text("{name} = {named} not run", {"name": name, "named": named}), "not run"]
    # A numeric claim is judged at the swept value nearest the one it names.
    claimed = named if named in swept else min(swept, key=lambda value: abs(value - named))
    text = Text(
        "{what} at {name} = {best}; tied with it: {tied}; the claim's value: {claimed}",
        {
            "what": MEASURE_WORDS[key],
            "name": name,
            "best": shown(best),
            "tied": ", ".join(shown(v) for v in tied if v != best) or "none",
            "claimed": shown(claimed),
        },
    )
    if claimed == best and tied == [best]:
        return [text, "reproduced"]
    return [text, "tied" if claimed in tied else "differs"]
