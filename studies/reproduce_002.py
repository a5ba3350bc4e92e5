"""Seed 002: training length, width, batch size, L2, dropout and depth of a two-layer ReLU net.

The seed (Saarland HLCV exercise 2) trained on CIFAR-10; here the same sweeps run on
Fashion-MNIST (re-made train/test split, see the data README), so only trends compare.
Conversions: the seed counts iterations of batch 200, and 4000 of them over 50,000 images
are 16 epochs; its batch-size table keeps 4000 iterations, so batch b trains
4000 * b / 50,000 epochs. Its penalty lambda * (||W1||^2 + ||W2||^2) is Keras' L2 with the
same lambda on both kernels. Keep probability p is dropout rate 1 - p. "n-layered" counts
Dense layers, so n layers are n - 1 hidden ones. The seed's learning rates (1e-4, 1e-3) suit
raw CIFAR pixels; on [0, 1] inputs SGD needs 0.01 and 0.1 for the same slow and fast pair.

- Scientific: iterations (1000 to 10000), hidden units (10 to 120), batch size (100 to
  500, 50 and 100 units), L2 lambda (0 to 1), keep probability (0.25 to 1), depth (2 to 5).
- Nuisance: none; each sweep holds the rest at the seed's values.
- Fixed: ReLU, plain SGD at 0.1 (no learning-rate decay), batch 200, no L2 outside its
  own sweep, 16 epochs (4000 iterations), seed 0.
"""

from __future__ import annotations

from kerasnn import ModelConfig, TrainConfig
from studies import variants

QUESTION = "Seed 002: how do length, width, batch, L2, dropout and depth move accuracy?"
DEFAULTS = {"dataset": "fashion_mnist", "pruner": "none", "epochs": 16}
MODEL = ModelConfig(hidden_units=50, activation="relu", optimizer="sgd", learning_rate=0.1)
ITERATIONS = 4000
TRAIN_IMAGES = 50_000

VARIANTS = {
    # 10,000 iterations of batch 200 are 40 epochs; the history gives every shorter length.
    "length lr=0.01": {"learning_rate": 0.01, "epochs": 40},
    "length lr=0.1": {"epochs": 40},
    **{f"hidden={units}": {"hidden_units": units} for units in range(10, 130, 10)},
    **{
        f"hidden={units} batch={size}": {
            "hidden_units": units,
            "batch_size": size,
            "epochs": ITERATIONS * size // TRAIN_IMAGES,
        }
        for units in (50, 100)
        for size in (100, 300, 400, 500)
    },
    **{
        f"hidden={units} L2={strength}": {
            "hidden_units": units,
            "l2": strength,
            "regularize": "both",
        }
        for units in (50, 100)
        for strength in (0.25, 0.5, 0.75, 1.0)
    },
    **{
        f"hidden={units} keep={keep}": {"hidden_units": units, "dropout_rate": 1 - keep}
        for units in (50, 100)
        for keep in (0.25, 0.5, 0.75)
    },
    **{f"layers={depth}": {"hidden_units": 100, "hidden_layers": depth - 1} for depth in (3, 4, 5)},
}
SEARCH_SPACE = {variants.PARAMETER: list(VARIANTS)}


def suggest(trial, train_config: TrainConfig) -> tuple[ModelConfig, TrainConfig]:
    return variants.configure(
        trial, train_config, MODEL, VARIANTS, DEFAULTS["epochs"], batch_size=200
    )
