"""Seed 000: softmax regression on MNIST: early stopping, shuffling and an L2 sweep."""

from __future__ import annotations

import numpy as np

from studies import reproduce_000 as study
from studies.reproduction.claims import (
    Figure,
    Heading,
    Section,
    Series,
    Table,
    Text,
    begin,
)
from studies.reproduction.runs import Run, Runs
from studies.reproduction.verdicts import (
    MIN_SEEDS,
    Sample,
    claim_verdict,
    enough_seeds,
    lower_verdict,
)

NUMBER = "000"
# The seed's epochs until early stopping (binary 2-vs-3 task), without and with shuffling.
NO_SHUFFLE, SHUFFLE = "early stopping, no shuffle", "early stopping, shuffle"
STOP = {NO_SHUFFLE: 33, SHUFFLE: 24}
# Stopping epochs this close to the seed's count as the same.
STOP_TOLERANCE = 3
STRENGTHS = (0.0, 0.001, 0.01, 0.1, 1.0)
L2_SETTINGS = [f"L2={strength}" for strength in STRENGTHS]
# Below this train-validation gap at every strength, the model barely overfits.
SMALL_GAP = 0.01

DID = (
    "**The seed** trained logistic (digits 2 vs 3) and softmax regression on MNIST with "
    "inputs scaled to [-1, 1], early stopping, with and without shuffling, and an L2 sweep "
    "whose per-class weights it drew as images and whose weight norm it plotted against "
    "lambda."
)
NOT_MATCHED = (
    "**Not matched.** The seed's early-stopping and shuffling runs were the binary 2-vs-3 "
    "task; ours are the 10-class softmax regression, so stopping epochs compare only loosely. "
    "Its early-stopping signal was validation loss checked five times per epoch, ours is "
    "validation accuracy once per epoch (patience 2 epochs). Its loss curves were per "
    "mini-batch; kerasnn stores per-epoch histories. The validation split leaves the "
    "training set in a random order, so 'no shuffle' means one fixed random order, not "
    "MNIST's file order."
)
STOPPING_OUTCOMES = {
    "reproduced": "shuffling made it trigger earlier, as the seed says",
    "tied": "a difference inside the spread over seeds, so shuffling does not measurably "
    "change when it triggers",
    "differs": "shuffling made it trigger later, against the seed",
}
SPIKES = (
    "Epochs in which the epoch-averaged training loss rose (ours, all seeds): {plain} without "
    "shuffling, {shuffle} with it. The "
    "seed's spikes are per mini-batch; kerasnn keeps one value per epoch, so the curves below "
    "can show the spikes only as far as they survive averaging over an epoch."
)


def roughness(kernel: np.ndarray) -> float:
    """Neighbouring-pixel differences relative to the weights' size: lower is smoother."""
    images = kernel.T.reshape(-1, 28, 28)
    steps = np.concatenate([np.diff(images, axis=1).ravel(), np.diff(images, axis=2).ravel()])
    return float(np.linalg.norm(steps) / (np.linalg.norm(images) or 1.0))


def section(runs: Runs) -> Section:
    result = begin(NUMBER, study, DID, NOT_MATCHED, runs)
    if not runs.ran:
        return result
    stopped = {setting: runs.sample(setting, Run.epochs) for setting in STOP}
    kernels = {setting: runs.kernel(setting) for setting in L2_SETTINGS}
    result.blocks = [
        Heading("Early stopping and shuffling"),
        _stopping_table(stopped),
        _spikes(runs),
        Figure(
            "overlaid",
            "000-shuffle.png",
            {"histories": {s: runs.history(s) for s in STOP if runs.history(s)}},
            title="Seed 000: softmax regression, early stopping with and without shuffling",
            caption="shuffling",
        ),
        Heading("L2 strength"),
        _l2_table(runs, kernels),
        _l2_claims(runs, kernels),
        *_l2_figures(runs, kernels),
    ]
    result.findings = [*_l2_findings(runs, kernels), _stopping_finding(runs, stopped)]
    return result


def _stopping_table(stopped: dict[str, Sample]) -> Table:
    rows = []
    for setting, seed_epochs in STOP.items():
        ours = stopped[setting]
        difference = ours.mean - seed_epochs if ours.n else None
        outcome = (
            "not run" if difference is None else claim_verdict(abs(difference) <= STOP_TOLERANCE)
        )
        rows.append([setting, seed_epochs, ours, difference, outcome])
    shuffle, plain = stopped[SHUFFLE], stopped[NO_SHUFFLE]
    outcome = lower_verdict(shuffle, plain) if enough_seeds([shuffle, plain]) else "not run"
    claim = "shuffling makes early stopping trigger earlier"
    seed = Text("yes ({shuffle} vs {plain})", {"shuffle": STOP[SHUFFLE], "plain": STOP[NO_SHUFFLE]})
    ours = Text("{shuffle:.1f} vs {plain:.1f}", {"shuffle": shuffle, "plain": plain})
    rows.append([claim, seed, ours, None, outcome])
    header = ["setting", "seed: epochs until stop (binary 2-vs-3 task)"]
    header += ["ours: epochs trained (10 classes)", "difference", "verdict"]
    return Table(header, rows, ["", "d", ".1f", "+.1f", ""], counted=True)


def _spikes(runs: Runs) -> Text:
    def rises(setting):
        return sum(run.loss_rises() for run in runs.by_setting.get(setting, []))

    return Text(SPIKES, {"plain": rises(NO_SHUFFLE), "shuffle": rises(SHUFFLE)})


def _l2_table(runs: Runs, kernels: dict) -> Table:
    rows = [
        [
            strength,
            runs.value(setting, "train_accuracy"),
            runs.value(setting, "val_accuracy"),
            runs.value(setting, "test_accuracy"),
            _norm(kernels[setting]),
            _roughness(kernels[setting]),
        ]
        for strength, setting in zip(STRENGTHS, L2_SETTINGS, strict=True)
    ]
    header = ["lambda", "train acc", "val acc", "test acc", "L2 norm of W", "roughness of W"]
    return Table(header, rows, ["g", ".4f", ".4f", ".4f", ".3f", ".3f"])


def _norm(kernel) -> float | None:
    return None if kernel is None else float(np.linalg.norm(kernel))


def _roughness(kernel) -> float | None:
    return None if kernel is None else roughness(kernel)


def _l2_claims(runs: Runs, kernels: dict) -> Table:
    norms = [_norm(kernels[setting]) for setting in L2_SETTINGS]
    rough = [_roughness(kernels[setting]) for setting in L2_SETTINGS]
    accuracies = [runs.value(setting, "val_accuracy") for setting in L2_SETTINGS]
    rows = []
    if None not in norms:
        shrinking = all(b < a for a, b in zip(norms, norms[1:], strict=False))
        claim = "higher lambda gives smaller weights (L2 norm falls with lambda)"
        rows.append(
            [
                claim,
                Text("{norms:.2f}", {"norms": Series(tuple(norms), " > ")}),
                None,
                claim_verdict(shrinking),
            ]
        )
    if None not in rough:
        text = Text("roughness {last:.3f} vs {first:.3f}", {"last": rough[-1], "first": rough[0]})
        rows.append(
            [
                "lambda = 1 weights are less noisy than lambda = 0",
                text,
                rough[-1] - rough[0],
                claim_verdict(rough[-1] < rough[0]),
            ]
        )
    if None not in accuracies:
        text = Text(
            "val acc {last:.4f} at lambda 1 vs {first:.4f} at 0",
            {"last": accuracies[-1], "first": accuracies[0]},
        )
        claim = "strong regularisation can make the model too simple (accuracy drops)"
        rows.append(
            [
                claim,
                text,
                accuracies[-1] - accuracies[0],
                claim_verdict(accuracies[-1] < accuracies[0]),
            ]
        )
    header = ["seed's claim", "ours", "difference", "verdict"]
    return Table(header, rows, ["", "", "+.4f", ""], counted=True)


def _l2_figures(runs: Runs, kernels: dict) -> list[Figure]:
    """The weights per class and the norm and accuracy against lambda, where weights exist."""
    present = {s.replace("L2=", "lambda = "): k for s, k in kernels.items() if k is not None}
    if not present:
        return []
    series = {
        "L2 norm of the weights": [_norm(kernels[setting]) for setting in L2_SETTINGS],
        "validation accuracy": [runs.value(setting, "val_accuracy") for setting in L2_SETTINGS],
    }
    return [
        Figure("weights", "000-weights.png", {"kernels": present}, caption="weights per class"),
        Figure(
            "strength",
            "000-l2.png",
            {"strengths": list(STRENGTHS), "series": series},
            caption="norm and accuracy against lambda",
        ),
    ]


def _l2_findings(runs: Runs, kernels: dict) -> list[Text]:
    norms = [_norm(kernels[setting]) for setting in L2_SETTINGS]
    rough = [_roughness(kernels[setting]) for setting in L2_SETTINGS]
    accuracies = [runs.value(setting, "val_accuracy") for setting in L2_SETTINGS]
    gaps = [runs.value(setting, "gap") for setting in L2_SETTINGS]
    findings = []
    if None not in norms and None not in rough:
        falling = all(b < a for a, b in zip(norms, norms[1:], strict=False))
        findings.append(
            Text(
                "The weights' L2 norm {falls} as lambda grows ({norms:.2f}), and the class "
                "templates' roughness goes from {r0:.3f} at lambda 0 to {r2:.3f} at 0.01 and "
                "{r4:.3f} at 1.",
                {
                    "falls": "falls at every step" if falling else "does not fall at every step",
                    "norms": Series(tuple(norms), " > " if falling else ", "),
                    "r0": rough[0],
                    "r2": rough[2],
                    "r4": rough[4],
                },
            )
        )
    if None not in accuracies and None not in gaps:
        findings.append(_gap_finding(accuracies, max(gaps)))
    return findings


def _gap_finding(accuracies: list[float], largest_gap: float) -> Text:
    values = {"first": accuracies[0], "last": accuracies[-1], "gap": largest_gap}
    template = (
        "Validation accuracy goes from {first:.4f} at lambda 0 to {last:.4f} at lambda 1, "
        "and the train-validation gap is at most {gap:.4f} at any strength"
    )
    ending = "."
    if largest_gap < SMALL_GAP:
        ending = (
            ": softmax regression barely overfits MNIST, so what the seed read as less "
            "overfitting is hardly visible here and L2 mostly trades accuracy for smoother "
            "weights."
        )
    return Text(template + ending, values)


def _stopping_finding(runs: Runs, stopped: dict[str, Sample]) -> Text:
    shuffle, plain = stopped[SHUFFLE], stopped[NO_SHUFFLE]
    if not enough_seeds([shuffle, plain]):
        outcome = "with fewer than {minimum} seeds each, the two are not compared"
    else:
        outcome = STOPPING_OUTCOMES[lower_verdict(shuffle, plain)]
    return Text(
        "Early stopping (patience 2 epochs on validation accuracy) stopped the shuffled runs "
        "after {shuffle:.1f} epochs, at {shuffle_val:.4f} validation accuracy, and the "
        "unshuffled ones after {plain:.1f}, at {plain_val:.4f} (mean ± sd over seeds): "
        + outcome
        + ".",
        {
            "shuffle": shuffle,
            "plain": plain,
            "shuffle_val": runs.sample(SHUFFLE, Run.best, "val_accuracy"),
            "plain_val": runs.sample(NO_SHUFFLE, Run.best, "val_accuracy"),
            "minimum": MIN_SEEDS,
        },
    )
