"""Seed 004: learning rate and regularisation tables of a two-layer sigmoid network on MNIST.

The course's two-layer network (Georgia Tech CS 7643, assignment 1): Dense(128, sigmoid)
-> Dense(10, softmax), plain SGD at batch 64 for 10 epochs, learning rate 0.1 and
regularisation 1e-3 by default. Its penalty is 0.5 * reg * ||W||^2 on both kernels, so the
Keras L2 strength is reg / 2.

- Scientific: learning rate (1, 0.1, 0.05, 0.01) and regularisation (1 to 1e-4), each
  swept with the other at its default; and the seed's tuned best configuration.
- Nuisance: none (the seed's table fixes everything else).
- Fixed: sigmoid hidden layer, SGD without momentum (momentum 0.9 only in the best
  configuration), batch 64, 10 epochs (40 for the best configuration), seed 0.
"""

from __future__ import annotations

from kerasnn import ModelConfig, TrainConfig
from studies import variants

QUESTION = "Seed 004: how do learning rate and L2 strength move a two-layer network's accuracy?"
DEFAULTS = {"dataset": "mnist", "pruner": "none", "epochs": 10}
MODEL = ModelConfig(
    hidden_units=128,
    activation="sigmoid",
    optimizer="sgd",
    learning_rate=0.1,
    l2=1e-3 / 2,
    regularize="both",
)

VARIANTS = {
    **{f"lr={rate}": {"learning_rate": rate} for rate in (1.0, 0.1, 0.05, 0.01)},
    # reg = 1e-3 is the default, the same run as lr=0.1.
    **{f"reg={reg}": {"l2": reg / 2} for reg in (1.0, 0.1, 0.01, 0.0001)},
    "best": {
        "hidden_units": 256,
        "learning_rate": 1.0,
        "momentum": 0.9,
        "l2": 1e-4 / 2,
        "epochs": 40,
    },
}
SEARCH_SPACE = {variants.PARAMETER: list(VARIANTS)}


def suggest(trial, train_config: TrainConfig) -> tuple[ModelConfig, TrainConfig]:
    return variants.configure(
        trial, train_config, MODEL, VARIANTS, DEFAULTS["epochs"], batch_size=64
    )
