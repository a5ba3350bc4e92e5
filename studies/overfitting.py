"""Which batch size, dropout, L1/L2 and activation give high accuracy with little overfitting?

The hand search of seed report 003, run as an Optuna study against the penalized objective
(validation accuracy minus the train-validation gap).

- Scientific: batch size (100 to 7000, seed 003's range), dropout rate (0 to 0.5), the
  weight penalty (none, L1, L2 or both), its strength and the layers it applies to
  (hidden, output, both), and the hidden activation.
- Nuisance (tuned so that the scientific comparison is fair): hidden units and the
  Adam learning rate.
- Fixed: the architecture Flatten(28x28) -> Dense -> Dropout -> Dense(10, softmax),
  sparse categorical crossentropy, the Adam optimiser, the epoch budget and the seed.
"""

from __future__ import annotations

import dataclasses

from kerasnn import ModelConfig, TrainConfig

QUESTION = "Which batch size, dropout, L1/L2 and activation give accuracy without overfitting?"
# The hyperparameters the question is about; the report's findings look at each.
# The widest hidden layer the search draws: the width a study's programs are fixed to.
MAX_HIDDEN_UNITS = 512
SCIENTIFIC = [
    "batch_size",
    "dropout_rate",
    "penalty",
    "penalty_strength",
    "regularize",
    "activation",
]


def suggest(trial, train_config: TrainConfig) -> tuple[ModelConfig, TrainConfig]:
    penalty = trial.suggest_categorical("penalty", ["none", "l1", "l2", "l1_l2"])
    strength, regularize = 0.0, "hidden"
    if penalty != "none":
        strength = trial.suggest_float("penalty_strength", 1e-5, 1e-1, log=True)
        regularize = trial.suggest_categorical("regularize", ["hidden", "output", "both"])
    model_config = ModelConfig(
        hidden_units=trial.suggest_int("hidden_units", 32, MAX_HIDDEN_UNITS, log=True),
        activation=trial.suggest_categorical("activation", ["relu", "sigmoid", "tanh", "elu"]),
        dropout_rate=trial.suggest_float("dropout_rate", 0.0, 0.5),
        l1=strength if "l1" in penalty else 0.0,
        l2=strength if "l2" in penalty else 0.0,
        regularize=regularize,
        learning_rate=trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True),
    )
    batch_size = trial.suggest_int("batch_size", 100, 7000, log=True)
    return model_config, dataclasses.replace(train_config, batch_size=batch_size)
