"""Tests of kerasnn.compiled: the compiled path mirrors the model and computes what a plain Keras
fit computes, reuses its programs across runs, and refuses what it cannot mirror."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
from keras import layers

from kerasnn import ModelConfig, TrainConfig, build_model, compiled, mirror, train, training

# Small enough to train in a second or two; 2,950 is no multiple of the batch sizes used,
# so every epoch ends with a smaller batch, as in Keras.
TRAIN_SIZE = 2_950
NETWORK = ModelConfig(hidden_units=64, dropout_rate=0.2)

# Each optimiser with a learning rate it trains well at here.
OPTIMIZERS = {
    "adam": dict(optimizer="adam"),
    "sgd_momentum": dict(optimizer="sgd", learning_rate=0.05, momentum=0.9),
    "rmsprop": dict(optimizer="rmsprop"),
}


@pytest.fixture(scope="module")
def small(fashion):
    return fashion.subset(TRAIN_SIZE)


@pytest.fixture(autouse=True)
def xla_whatever_the_run_length(monkeypatch):
    """The runs here are short, and the paths checked are the batch size's (XLA below
    XLA_BELOW_BATCH_SIZE): every run counts as long enough for XLA, but in the test of
    the run-length rule itself."""
    monkeypatch.setattr(compiled, "XLA_FROM_STEPS", 0)


def test_a_run_shorter_than_xla_from_steps_trains_in_the_graph(monkeypatch):
    monkeypatch.setattr(compiled, "XLA_FROM_STEPS", 500)
    model = build_model(ModelConfig(hidden_units=16))

    def xla(batch_size, train_size, epochs):
        return compiled._compiled(model, batch_size, train_size, epochs).xla

    # 1,001 images at batch 100 are 11 steps an epoch: 45 epochs make 495 steps, 46 make 506.
    assert (xla(100, 1001, 45), xla(100, 1001, 46)) == (False, True)
    assert xla(512, 100_000, 50) is False  # Large batches: the graph, however long the run.
    assert xla(100, 1001, None) is True  # No run length given: a long run.


def chain(*hidden, output=None, input_shape=(28, 28), optimizer="adam", loss=None):
    """Input -> Flatten -> `hidden` layers -> `output` (Dense(10, softmax)), compiled."""
    inputs = keras.Input(shape=input_shape)
    x = layers.Flatten()(inputs)
    for layer in (*hidden, output or layers.Dense(10, activation="softmax")):
        x = layer(x)
    model = keras.Model(inputs, x)
    model.compile(
        optimizer=optimizer,
        loss=loss or "sparse_categorical_crossentropy",
        # The metric `train`'s model.fit path reads, as on build_model's models.
        metrics=["accuracy", keras.metrics.SparseCategoricalCrossentropy(name="cross_entropy")],
    )
    return model


def by_config(config):
    return lambda: build_model(config)


def regularized_per_layer():
    # Strengths build_model never makes: L1 alone on the hidden kernel, L2 alone on the output.
    return chain(
        layers.Dense(48, activation="relu", kernel_regularizer=keras.regularizers.L1L2(l1=3e-4)),
        output=layers.Dense(
            10, activation="softmax", kernel_regularizer=keras.regularizers.L1L2(l2=2e-3)
        ),
    )


EQUIVALENCE_CASES = {
    **{
        f"{name}_l1_l2_{placement}": (
            by_config(
                ModelConfig(hidden_units=64, l1=1e-4, l2=1e-3, regularize=placement, **options)
            ),
            100,
        )
        for name, options in OPTIMIZERS.items()
        for placement in ("hidden", "output", "both")
    },
    "adam_unregularized_two_tanh_layers": (
        by_config(ModelConfig(hidden_units=32, hidden_layers=2, activation="tanh")),
        100,
    ),
    "large_batches_without_xla": (
        by_config(ModelConfig(hidden_units=64, l2=1e-3)),
        compiled.XLA_BELOW_BATCH_SIZE,
    ),
    "softmax_regression_rmsprop": (
        by_config(ModelConfig(hidden_units=0, l1=1e-4, regularize="output", optimizer="rmsprop")),
        128,
    ),
    "hand_built_other_strength_per_layer": (regularized_per_layer, 100),
}


@pytest.mark.parametrize(
    "make_model, batch_size", EQUIVALENCE_CASES.values(), ids=EQUIVALENCE_CASES.keys()
)
def test_compiled_path_ends_each_epoch_with_the_weights_of_a_plain_keras_fit(
    small, make_model, batch_size
):
    keras.backend.clear_session()
    keras.utils.set_random_seed(3)
    model = make_model()
    # The run copies the model's weights into its own network, so `model` stays as built
    # and model.fit can train it from the same start.
    run = compiled.CompiledRun(model, TrainConfig(batch_size=batch_size, seed=3), small)
    # The run draws each epoch's order from this generator; model.fit gets the same order.
    orders = np.random.default_rng(3)
    for epoch in range(2):
        loss, accuracy = run.fit_epoch(epoch)
        order = orders.permutation(TRAIN_SIZE)
        history = model.fit(
            small.x_train[order],
            small.y_train[order],
            batch_size=batch_size,
            epochs=epoch + 1,
            initial_epoch=epoch,
            shuffle=False,
            verbose=0,
        ).history

        # Both paths do the same float32 arithmetic but round differently (XLA fuses and
        # orders sums its own way; the L1/L2 term is summed in another order), and the
        # differences carry through later steps. Measured here, weights end at most 2.4e-7
        # apart, except first-layer weights under Adam, up to 7.1e-7: Adam divides each
        # step by the root of its weight's own squared gradients, so where those are small
        # (pixels rarely lit) rounding makes up a larger share of the step. rtol 1e-5
        # (about 80 float32 ulps) with atol 1e-6 holds that; an L1/L2 strength a fifth
        # off, on the wrong kernel or missing fails it (tried).
        for mine, theirs in zip(run.weights(), model.get_weights(), strict=True):
            np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(loss, history["loss"][0], rtol=1e-5)
        assert accuracy == pytest.approx(history["accuracy"][0], abs=1e-6)


# bfloat16 cases (always TensorFlow's graph, see compiled.uses_xla): large and small batches,
# each optimizer, and two hidden layers.
BFLOAT16_CASES = {
    "adam_l2_graph": (ModelConfig(hidden_units=64, l2=1e-3), compiled.XLA_BELOW_BATCH_SIZE),
    "sgd_momentum_l1_both_graph": (
        ModelConfig(hidden_units=64, l1=1e-4, regularize="both", **OPTIMIZERS["sgd_momentum"]),
        compiled.XLA_BELOW_BATCH_SIZE,
    ),
    "rmsprop_dropout_small_batch": (
        ModelConfig(hidden_units=64, dropout_rate=0.2, optimizer="rmsprop"),
        100,
    ),
    "adam_two_tanh_layers_small_batch": (
        ModelConfig(hidden_units=32, hidden_layers=2, activation="tanh"),
        100,
    ),
}


@pytest.mark.parametrize("config, batch_size", BFLOAT16_CASES.values(), ids=BFLOAT16_CASES.keys())
def test_bfloat16_compiled_path_trains_as_model_fit_under_the_same_policy(
    small, config, batch_size
):
    keras.backend.clear_session()
    keras.utils.set_random_seed(3)
    model = build_model(config, precision="bfloat16")
    initial = model.get_weights()
    run = compiled.CompiledRun(model, TrainConfig(batch_size=batch_size, seed=3), small)
    loss, accuracy = run.fit_epoch(0)
    order = np.random.default_rng(3).permutation(TRAIN_SIZE)
    # Without dropout, model.fit sees the same batches and computes the same bfloat16 steps.
    # With dropout it draws other masks, so only the loss's scale can be compared.
    history = model.fit(
        small.x_train[order],
        small.y_train[order],
        batch_size=batch_size,
        shuffle=False,
        verbose=0,
    ).history

    if config.dropout_rate:
        np.testing.assert_allclose(loss, history["loss"][0], rtol=0.05)
        return
    # bfloat16 keeps 8 significant bits (a product rounds by up to 2**-9, 0.2%), and
    # model.fit's XLA step and the graph's oneDNN products sum a product's terms in
    # different orders, so the two paths round differently; Adam and momentum carry that through the epoch's 6-30 steps.
    # Measured here, the weights end apart by at most 2% of how far the epoch moved them
    # (float32 against bfloat16 is about as far apart, which is why the forward pass is
    # held to exact agreement below), and the running loss within 3e-4. 5% and 1e-3 hold
    # that; a step that skips a term (L1/L2, a bias) or an optimizer setting moves weights
    # by far more.
    for mine, theirs, start in zip(run.weights(), model.get_weights(), initial, strict=True):
        moved = np.linalg.norm(theirs - start)
        assert np.linalg.norm(mine - theirs) <= 0.05 * moved
    np.testing.assert_allclose(loss, history["loss"][0], rtol=1e-3)
    assert accuracy == pytest.approx(history["accuracy"][0], abs=0.01)


def test_bfloat16_forward_pass_rounds_exactly_as_the_keras_policy_does(small):
    # The inference pass is the same products in the same order on both sides, so it agrees
    # to float32 rounding; in float32 the same network's cross-entropy differs by about
    # 2e-4, which this tolerance would catch.
    keras.utils.set_random_seed(3)
    model = build_model(ModelConfig(hidden_units=64), precision="bfloat16")
    run = compiled.CompiledRun(model, TrainConfig(batch_size=512), small)
    cross_entropy, accuracy = run.evaluate("validation")
    probabilities = model.predict(small.x_validation, verbose=0)
    picked = probabilities[np.arange(len(probabilities)), small.y_validation]
    assert cross_entropy == pytest.approx(-np.mean(np.log(picked)), rel=1e-6)
    assert accuracy == pytest.approx(np.mean(np.argmax(probabilities, 1) == small.y_validation))


def test_a_bfloat16_run_and_a_float32_run_of_one_shape_get_their_own_programs(small):
    config = ModelConfig(hidden_units=48)
    runs = [
        compiled.CompiledRun(build_model(config, precision=p), TrainConfig(batch_size=100), small)
        for p in ("float32", "bfloat16")
    ]
    assert runs[0].network is not runs[1].network
    assert runs[1].network.image_dtype == "bfloat16"


def test_start_reads_dropout_rates_and_l1_l2_strengths_from_the_models_layers():
    model = chain(
        layers.Dense(32, activation="relu"),
        layers.Dropout(0.25),
        layers.Dense(16, activation="relu", kernel_regularizer=keras.regularizers.L1L2(1e-4)),
        output=layers.Dense(
            10, activation="softmax", kernel_regularizer=keras.regularizers.L1L2(l2=2e-3)
        ),
        optimizer=keras.optimizers.SGD(learning_rate=0.125, momentum=0.5),
    )
    network = compiled._compiled(model, batch_size=100, train_size=100)
    network.start(model, seed=0)

    assert network.dropout and network.regularized
    np.testing.assert_array_equal(network.dropout_rates.numpy(), np.float32([0.25, 0.0]))
    expected = np.float32([[0.0, 0.0], [1e-4, 0.0], [0.0, 2e-3]])
    np.testing.assert_array_equal(network.strengths.numpy(), expected)
    assert float(network.optimizer.learning_rate) == 0.125
    assert network.optimizer.momentum == 0.5


def test_training_mode_dropout_keeps_each_unit_with_probability_one_minus_rate(small):
    # Dropout here is kerasnn's own (Keras' draws its masks far slower under XLA on CPU);
    # like Keras', it zeroes a unit with probability `rate` and scales the rest by
    # 1 / (1 - rate), so averaged over many masks the logits equal the inference ones.
    model = build_model(ModelConfig(hidden_units=64, dropout_rate=0.5))
    network = compiled._compiled(model, batch_size=100, train_size=100)
    network.start(model, seed=0)
    images = small.x_train[:100]

    inference = network._logits(images).numpy()
    masked = np.stack([network._logits(images, step).numpy() for step in range(400)])
    assert not np.allclose(masked[0], masked[1])  # Every step draws new masks.
    spread = masked.std(axis=0) / np.sqrt(len(masked))
    assert np.all(np.abs(masked.mean(axis=0) - inference) < 5 * spread + 1e-6)


@pytest.mark.parametrize("batch_size", [100, compiled.XLA_BELOW_BATCH_SIZE])
def test_same_seed_and_config_give_identical_numbers_even_after_other_runs(small, batch_size):
    short = TrainConfig(batch_size=batch_size, epochs=3, seed=7)
    first = train(NETWORK, short, small)
    # Same shapes, other hyperparameters: reuses the compiled program with other values.
    other = ModelConfig(hidden_units=64, dropout_rate=0.4, learning_rate=3e-3)
    train(other, short, small)
    again = train(NETWORK, short, small)
    other_seed = train(NETWORK, dataclasses.replace(short, seed=8), small)

    for key in ("loss", "accuracy", "train_loss", "val_loss", "val_accuracy"):
        assert again.history[key] == first.history[key], key
    assert again.test_accuracy == first.test_accuracy
    assert other_seed.history["loss"] != first.history["loss"]


def test_a_study_of_many_shapes_gets_no_retracing_warning(small, caplog):
    # Each new shape compiles its own network once, by design; TensorFlow would count those
    # traces together and warn as if one function kept retracing.
    for hidden_units in range(20, 28):
        train(ModelConfig(hidden_units=hidden_units), TrainConfig(batch_size=100, epochs=1), small)
    assert not [record for record in caplog.records if "retracing" in record.getMessage()]


@pytest.mark.parametrize(
    "config",
    [
        ModelConfig(),
        ModelConfig(hidden_units=32, hidden_layers=3, activation="gelu", dropout_rate=0.3),
        ModelConfig(l1=1e-4, l2=1e-3, regularize="both", optimizer="sgd", momentum=0.9),
        ModelConfig(hidden_units=0, l2=1e-3, regularize="output", optimizer="rmsprop"),
    ],
    ids=["default", "three_gelu_layers_dropout", "sgd_l1_l2_both", "softmax_regression"],
)
def test_every_model_build_model_makes_is_mirrored(config):
    assert mirror.cannot_mirror(build_model(config)) is None


UNMIRRORABLE = {
    "batch_normalization": (
        lambda: chain(layers.Dense(32), layers.BatchNormalization(name="norm")),
        "'norm' is a BatchNormalization",
    ),
    "bias_regularizer": (
        lambda: chain(layers.Dense(32, bias_regularizer=keras.regularizers.L1L2(l2=1e-3))),
        "bias regularizer",
    ),
    "activity_regularizer": (
        lambda: chain(layers.Dense(32, activity_regularizer=keras.regularizers.L1L2(l1=1e-3))),
        "activity regularizer",
    ),
    "kernel_constraint": (
        lambda: chain(layers.Dense(32, kernel_constraint=keras.constraints.MaxNorm(2))),
        "weight constraint",
    ),
    "l2_regularizer_class": (
        lambda: chain(layers.Dense(32, kernel_regularizer=keras.regularizers.L2(1e-3))),
        "L2 kernel regularizer, not an L1L2",
    ),
    "dense_without_bias": (lambda: chain(layers.Dense(32, use_bias=False)), "has no bias"),
    "sigmoid_output": (
        lambda: chain(output=layers.Dense(10, activation="sigmoid", name="out")),
        "'out' has no softmax activation",
    ),
    "dropout_on_pixels": (lambda: chain(layers.Dropout(0.2)), "does not follow a Dense"),
    "mixed_precision": (
        lambda: chain(layers.Dense(32, dtype="mixed_float16")),
        "not float32",
    ),
    "logits_loss": (
        lambda: chain(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)),
        "not sparse categorical crossentropy",
    ),
    "other_optimizer": (lambda: chain(optimizer="adamax"), "Adamax is none of"),
    "learning_rate_schedule": (
        lambda: chain(
            optimizer=keras.optimizers.SGD(
                keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
            )
        ),
        "schedule",
    ),
}


@pytest.mark.parametrize("make_model, reason", UNMIRRORABLE.values(), ids=UNMIRRORABLE.keys())
def test_cannot_mirror_names_what_the_compiled_path_would_compute_differently(
    small, make_model, reason
):
    model = make_model()
    assert reason in mirror.cannot_mirror(model)
    with pytest.raises(ValueError, match="cannot mirror"):
        compiled.CompiledRun(model, TrainConfig(), small)


def test_train_falls_back_to_model_fit_for_a_model_it_cannot_mirror(small, monkeypatch):
    def no_compiled_run(*args):
        raise AssertionError("the compiled path ran")

    monkeypatch.setattr(compiled, "CompiledRun", no_compiled_run)
    monkeypatch.setattr(
        training,
        "build_model",
        lambda config, precision: chain(
            layers.Dense(config.hidden_units, activation="relu"),
            output=layers.Dense(10, activation="softmax", use_bias=False, name="out"),
        ),
    )
    with pytest.warns(RuntimeWarning, match="model.fit.*'out' has no bias"):
        result = train(ModelConfig(hidden_units=64), TrainConfig(batch_size=100, epochs=2), small)

    assert result.epochs == 2 and not result.diverged
    assert result.val_accuracy > 0.70  # Chance is 0.10.
    assert not result.model.get_layer("out").use_bias
