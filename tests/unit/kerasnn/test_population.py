"""Tests of kerasnn.population: members of one compiled population train as `train` trains each
alone, draw their own dropout masks, and stop (diverged, pruned) without touching the others.

The suite runs on TensorFlow and the Keras backend is fixed per process, so what needs JAX
runs in a subprocess (tests/jax_checks.py) on a few hundred images and is judged here.
"""

from __future__ import annotations

import keras
import pytest

from kerasnn import ModelConfig, TrainConfig, population


def test_members_are_grouped_by_layers_batch_bucket_and_optimizer_settings():
    def member(batch_size=100, **model):
        return population._member(0, ModelConfig(**model), TrainConfig(batch_size), 60_000)

    same = [member(), member(120, hidden_units=512, activation="tanh", l2=1e-3, dropout_rate=0.3)]
    assert len(population._groups(same)) == 1
    apart = [member(), member(7000), member(hidden_layers=2), member(optimizer="sgd")]
    assert len(population._groups(apart)) == 4
    # Large batches hold fewer members per program; the rest reuse it.
    large = [member(7000, learning_rate=1e-3 * (1 + i)) for i in range(20)]
    assert [len(group) for group in population._groups(large)] == [16, 4]


def test_every_configuration_build_model_makes_is_trained_and_others_are_refused(monkeypatch):
    for config in (ModelConfig(), ModelConfig(hidden_units=0), ModelConfig(hidden_layers=3)):
        assert population.cannot_train(config) is None

    def unmirrorable(config):
        model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten()])
        model.add(keras.layers.BatchNormalization(name="norm"))
        model.add(keras.layers.Dense(10, activation="softmax"))
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return model

    monkeypatch.setattr(population, "build_model", unmirrorable)
    assert "'norm' is a BatchNormalization" in population.cannot_train(ModelConfig())
    with pytest.raises(ValueError, match="run 0: the population cannot mirror"):
        population._member(0, ModelConfig(), TrainConfig(), 100)
