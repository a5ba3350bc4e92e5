"""Tests of kerasnn.population: members of one compiled population train as `train` trains each
alone, draw their own dropout masks, and stop (diverged, pruned) without touching the others.

The suite runs on TensorFlow and the Keras backend is fixed per process, so what needs JAX
runs in a subprocess (tests/jax_checks.py) on a few hundred images and is judged here.
"""

from __future__ import annotations

import keras
import pytest

from kerasnn import ModelConfig, TrainConfig, population, population_program
from kerasnn.config import ACTIVATIONS


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


def test_fixed_shapes_put_a_studys_batch_sizes_in_few_programs_of_its_width_and_size():
    fixed = population.FixedShapes(width=512, members=8)

    def member(batch_size, hidden_units=32):
        config = ModelConfig(hidden_units=hidden_units)
        return population._member(0, config, TrainConfig(batch_size), 60_000)

    # The search space's batch sizes (100 to 7000): 7 buckets of powers of two, 4 of four.
    batches = [100, 200, 300, 700, 1500, 3000, 7000]
    members = [member(batch) for batch in batches]
    assert len(population._groups(members)) == 7
    groups = population._groups(members, fixed)
    assert len(groups) == 4
    clock = population_program.Clock()
    specs = {population._program(group, 60_000, clock, fixed).spec for group in groups}
    assert {(spec.width, spec.members, spec.dropout) for spec in specs} == {(512, 8, True)}
    assert {spec.batch_size for spec in specs} == {256, 1024, 4096, 16384}
    assert all(len(spec.activations) == len(ACTIVATIONS) for spec in specs)


def test_fixed_shapes_refuse_a_width_or_member_count_they_cannot_pad_to():
    with pytest.raises(ValueError, match="members must be an integer >= 1"):
        population.FixedShapes(width=64, members=0)
    with pytest.raises(ValueError, match="width must be an integer >= 0"):
        population.FixedShapes(width=-1)


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
