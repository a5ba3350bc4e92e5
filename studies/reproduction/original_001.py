"""Seed 001: one hidden ReLU layer with weight decay on MNIST, 99.7% train / 98.1% validation."""

from __future__ import annotations

from studies import reproduce_001 as study
from studies.reproduction.claims import Figure, Section, Table, Text, begin
from studies.reproduction.runs import Run, Runs
from studies.reproduction.verdicts import (
    MIN_SEEDS,
    Sample,
    enough_seeds,
    order,
    verdict,
)

NUMBER = "001"
# The seed's reported figures.
SEED = {"train_accuracy": 0.997, "val_accuracy": 0.981}
# The seed states its figures to a tenth of a point.
TOLERANCE = 0.005

DID = (
    "**The seed** trained one hidden ReLU layer with weight decay on MNIST and reported 99.7% "
    "training and 98.1% validation accuracy (its text says 'training set' for the second "
    "figure; its figure caption says validation)."
)
NOT_MATCHED = (
    "**Not matched.** The seed does not state width, learning rate, batch size, epochs or "
    "decay strength; we chose 256 units, SGD 0.1, batch 64, 20 epochs and pick the decay on "
    "validation, by its mean over seeds."
)
ALL_DIVERGED = "Every run diverged, so no decay can be chosen."


def section(runs: Runs) -> Section:
    result = begin(NUMBER, study, DID, NOT_MATCHED, runs)
    if not runs.ran:
        return result
    accuracies = {s: runs.sample(s, Run.best, "val_accuracy") for s in study.VARIANTS}
    candidates = [setting for setting, sample in accuracies.items() if sample.n]
    if not candidates:
        result.blocks = [_settings_table(runs), Text(ALL_DIVERGED)]
        return result
    chosen = max(candidates, key=lambda setting: accuracies[setting].mean)
    result.blocks = [
        _settings_table(runs),
        Text("Chosen on validation (highest mean over seeds): {chosen}.", {"chosen": chosen}),
        _comparison(runs, chosen),
        Figure(
            "curves",
            "001-curves.png",
            {"histories": {f"seed 001, {chosen}": runs.history(chosen)}},
            caption="seed 001 curves",
        ),
    ]
    result.findings = _findings(runs, chosen, accuracies)
    return result


def _settings_table(runs: Runs) -> Table:
    rows = [
        [
            setting,
            len(runs.by_setting.get(setting, [])),
            runs.sample(setting, Run.best, "train_accuracy"),
            runs.sample(setting, Run.best, "val_accuracy"),
            runs.sample(setting, Run.best, "test_accuracy"),
            runs.sample(setting, Run.best, "best_epoch"),
            runs.sample(setting, Run.final, "train_accuracy"),
            runs.sample(setting, Run.final, "val_accuracy"),
        ]
        for setting in study.VARIANTS
    ]
    header = ["weight decay c", "seeds", "train acc (best epoch)", "val acc", "test acc"]
    header += ["best epoch", "final train acc", "final val acc"]
    return Table(header, rows, ["", "d", ".4f", ".4f", ".4f", ".1f", ".4f", ".4f"])


def _comparison(runs: Runs, chosen: str) -> Table:
    rows = []
    for metric, seed_value in SEED.items():
        ours = runs.sample(chosen, Run.best, metric)
        difference = None if not ours.n else ours.mean - seed_value
        outcome = verdict(seed_value, ours.mean, tolerance=TOLERANCE)
        rows.append([metric.replace("_", " "), seed_value, ours, difference, outcome])
    header = ["measure", "seed", "ours", "difference", f"verdict (tolerance {TOLERANCE})"]
    return Table(header, rows, ["", ".4f", ".4f", "+.4f", ""], counted=True)


def _findings(runs: Runs, chosen: str, accuracies: dict[str, Sample]) -> list[Text]:
    best = {metric: runs.sample(chosen, Run.best, metric) for metric in SEED}
    misses = [m.replace("_", " ") for m in SEED if abs(best[m].mean - SEED[m]) > TOLERANCE]
    reached = Text(
        "The decay chosen on validation, {chosen}, reaches {train:.4f} training and {val:.4f} "
        "validation accuracy (test {test:.4f}), {agreement}.",
        {
            "chosen": chosen,
            "train": best["train_accuracy"],
            "val": best["val_accuracy"],
            "test": runs.sample(chosen, Run.best, "test_accuracy"),
            "agreement": "within the tolerance of the seed's figures on both"
            if not misses
            else "outside the tolerance of the seed's " + " and ".join(misses),
        },
    )
    others, tied = _against_chosen(chosen, accuracies)
    return [reached, *others, _peaks(runs), _decay_needed(chosen, tied)]


def _against_chosen(chosen: str, accuracies: dict[str, Sample]) -> tuple[list[Text], list[str]]:
    """Sentences comparing the other decays with the chosen one, and those tied with it."""
    others = [s for s in accuracies if s != chosen and accuracies[s].n]
    if not enough_seeds([accuracies[s] for s in [chosen, *others]]):
        text = Text(
            "With fewer than {minimum} seeds per decay, the others ({others}) are not compared "
            "with it.",
            {"minimum": MIN_SEEDS, "others": ", ".join(others)},
        )
        return [text], others
    tied = [s for s in others if order(accuracies[s], accuracies[chosen]) == 0]
    sentences = []
    for setting in others:
        template = "{setting} is tied with it on validation accuracy ({value:.4f})."
        if setting not in tied:
            template = "{setting} is {points:.1f} points lower on validation ({value:.4f})."
        points = 100 * (accuracies[chosen].mean - accuracies[setting].mean)
        values = {"setting": setting, "points": points, "value": accuracies[setting]}
        sentences.append(Text(template, values))
    return sentences, tied


def _peaks(runs: Runs) -> Text:
    peaks = [run.best("best_epoch") for run in runs.all() if run.best("best_epoch")]
    epochs = max(run.epochs() for run in runs.all())
    return Text(
        "All runs peak between epochs {first:.0f} and {last:.0f} of {epochs}.",
        {"first": min(peaks), "last": max(peaks), "epochs": epochs},
    )


def _decay_needed(chosen: str, tied: list[str]) -> Text:
    if "decay=0.0" in [chosen, *tied]:
        return Text(
            "No decay does as well as any decay here, so at this width and learning rate "
            "weight decay is not what the seed's numbers need; the seed does not say how long "
            "it trained or how strong its decay was."
        )
    return Text(
        "Weight decay helps here: {chosen} is ahead of no decay by more than the spread "
        "over seeds.",
        {"chosen": chosen},
    )
