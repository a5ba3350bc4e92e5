"""Seed 000: softmax regression on MNIST: early stopping, shuffling and an L2 sweep.

Softmax regression is the network without a hidden layer (hidden_units=0), on inputs
scaled to [-1, 1] as the seed did. The seed's early-stopping rule (validation loss not
improving over 10 checks, one check per fifth of an epoch) becomes a patience of 2 epochs
on validation accuracy, kerasnn's early-stopping signal. Its penalty lambda * ||W||^2 is
Keras' L2 with the same lambda on the (only) output kernel.

- Scientific: shuffling on/off (with early stopping) and the L2 strength
  (0, 0.001, 0.01, 0.1, 1.0).
- Nuisance: the seed (0, 1, 2) of the early-stopping runs, whose stopping epochs are compared
  with each other; one seed (0) for the L2 sweep, whose differences are far above the noise.
- Fixed: plain SGD at 0.01, batch 128, 30 epochs for the L2 sweep, at most 50 with early
  stopping.
"""

from __future__ import annotations

from kerasnn import ModelConfig, TrainConfig
from studies import variants

QUESTION = "Seed 000: when does early stopping trigger, what does shuffling do, how does L2 act?"
DEFAULTS = {"dataset": "mnist", "pruner": "none", "epochs": 30, "scale": "symmetric"}
MODEL = ModelConfig(hidden_units=0, optimizer="sgd", learning_rate=0.01, regularize="output")

_STOPPING = {"epochs": 50, "early_stopping_patience": 2}
VARIANTS = {
    "early stopping, no shuffle": {**_STOPPING, "shuffle": False},
    "early stopping, shuffle": {**_STOPPING, "shuffle": True},
    **{f"L2={strength}": {"l2": strength} for strength in (0.0, 0.001, 0.01, 0.1, 1.0)},
}
SEEDS = (0, 1, 2)
REPEATED = {name: SEEDS for name in VARIANTS if name.startswith("early stopping")}
GRID = variants.points(VARIANTS, REPEATED)
SEARCH_SPACE = {variants.PARAMETER: GRID}


def suggest(trial, train_config: TrainConfig) -> tuple[ModelConfig, TrainConfig]:
    return variants.configure(
        trial, train_config, MODEL, VARIANTS, DEFAULTS["epochs"], GRID, batch_size=128
    )
