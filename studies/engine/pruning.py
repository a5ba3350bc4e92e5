"""How a search saves epochs: the per-epoch pruner.

Optuna counts a trial's steps from 0, one per epoch, so a warm-up of W steps means no trial
is judged before it has trained W + 1 epochs. `benchmarks/study.py` compares these
strategies over several study seeds by the confirmed objective of their winners; the
default is the one it chose (docs/pruning.md).
"""

from __future__ import annotations

import optuna

from studies.settings import WARMUP, Settings

# The percentile pruner keeps the trials in this top percentage of the completed ones.
PERCENTILE_KEPT = 10.0
# Successive halving and Hyperband keep a third of the trials at each rung.
REDUCTION_FACTOR = 3
# Pruners that judge against completed trials wait for this many first.
STARTUP_TRIALS = 5


def make_pruner(settings: Settings) -> optuna.pruners.BasePruner:
    """The study's pruner, wrapped in Optuna's PatientPruner when --pruner-patience is set."""
    if settings.pruner == "none" or settings.objective == "pareto":
        # Optuna cannot prune multi-objective trials.
        return optuna.pruners.NopPruner()
    pruner = _pruner(settings.pruner, _warmup(settings), settings)
    if settings.pruner_patience is not None:
        # Prunes only once the trial has also stopped improving for that many epochs.
        pruner = optuna.pruners.PatientPruner(pruner, patience=settings.pruner_patience)
    return pruner


def _warmup(settings: Settings) -> int:
    return WARMUP[settings.pruner] if settings.warmup is None else settings.warmup


def _pruner(name: str, warmup: int, settings: Settings) -> optuna.pruners.BasePruner:
    if name == "median":
        # Below the median of the completed trials at the same epoch, from step `warmup` on.
        return optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=warmup)
    if name == "percentile":
        # Outside the top tenth at every epoch: judges slow starters (heavy dropout, large
        # batches) on early epochs, where they look worse than they end.
        return optuna.pruners.PercentilePruner(
            PERCENTILE_KEPT, n_startup_trials=STARTUP_TRIALS, n_warmup_steps=warmup
        )
    if name == "discard":
        # Early discarding: one judgement, at step `warmup`, keeping the top --keep fraction
        # of the completed trials; whoever survives it trains to the end.
        return optuna.pruners.PercentilePruner(
            100.0 * settings.keep,
            n_startup_trials=STARTUP_TRIALS,
            n_warmup_steps=warmup,
            interval_steps=settings.epochs,
        )
    if name == "sha":
        # Asynchronous successive halving: rungs at steps warmup, 3*warmup, 9*warmup, ...
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=warmup, reduction_factor=REDUCTION_FACTOR
        )
    # Hyperband runs successive halving in brackets of different aggressiveness. Optuna's
    # TPE then models each bracket's trials apart, so most trials of a short study are
    # random start-up trials (compare --sampler random).
    return optuna.pruners.HyperbandPruner(
        min_resource=warmup, max_resource=settings.epochs, reduction_factor=REDUCTION_FACTOR
    )
