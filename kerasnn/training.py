"""Training one configuration and measuring it the way the objective and the reports need."""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import time
import weakref

import keras
import numpy as np
import tensorflow as tf

from kerasnn.data import Dataset
from kerasnn.models import ModelConfig, build_model, make_optimizer

# A run whose inference-mode training cross-entropy climbs above this has blown up even if
# its loss is still finite: a model that always predicts the uniform distribution scores
# ln(10) = 2.30, so three times that is far worse than knowing nothing.
BLOW_UP_CROSS_ENTROPY = 3 * math.log(10)

# Batch size for the inference-mode passes of the Keras fallback (backends other than
# TensorFlow); large batches make those passes cheap and do not change their results.
EVALUATION_BATCH_SIZE = 2048

# How many compiled networks to keep. A study mostly revisits a handful of shapes; each
# entry holds a few megabytes of compiled code and one set of weights.
COMPILED_CACHE_SIZE = 16

# Batches at least this large train in TensorFlow's graph instead of an XLA program. An
# epoch of them has at most 100 steps, so the per-step dispatch that XLA removes costs
# little (measured on this CPU: equal epoch times from batch 256 up, hidden 128 and 512);
# TensorFlow's own (oneDNN) products beat XLA's on the large weight-gradient products;
# and building the graph takes about 0.3 s where XLA compiles for 1.5 s per new shape.
XLA_BELOW_BATCH_SIZE = 512


class _OwnTracesFilter(logging.Filter):
    """Drops TensorFlow's "excessive retracing" warning about kerasnn's compiled epochs.

    Each compiled network traces its epoch function once, by design, but TensorFlow counts
    the traces of every network's `_epoch` together (they share one code object) and, a
    few shapes into a study, warns as if one function kept retracing.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("_CompiledNetwork._epoch" in message and "retracing" in message)


tf.get_logger().addFilter(_OwnTracesFilter())

HISTORY_KEYS = (
    "loss",
    "accuracy",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "seconds",
)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 32
    epochs: int = 10
    shuffle: bool = True  # Reshuffle the training set before every epoch.
    early_stopping_patience: int | None = None  # Epochs without a better val accuracy.
    seed: int = 0  # Seeds weights, dropout masks and shuffling.

    def __post_init__(self):
        for name in ("batch_size", "epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        patience = self.early_stopping_patience
        if patience is not None and (not isinstance(patience, int) or patience < 1):
            raise ValueError(f"early_stopping_patience must be None or >= 1, got {patience!r}")


@dataclasses.dataclass(frozen=True, eq=False)
class TrainResult:
    """What one training run measured.

    `history` holds one value per trained epoch for: `loss` and `accuracy` (Keras'
    running averages over the epoch, dropout on, penalty included), `train_loss` and
    `train_accuracy` (the whole training set in inference mode, cross-entropy without the
    L1/L2 penalty), `val_loss` and `val_accuracy` (likewise on the validation set) and
    `seconds` (wall time of the epoch). The summary fields describe the best epoch, the
    one with the highest validation accuracy (the earliest on a tie), whose weights the
    model holds and the test set was evaluated with.
    """

    history: dict[str, list[float]]
    best_epoch: int  # 1-based; 0 when no epoch finished.
    train_accuracy: float
    train_loss: float
    val_accuracy: float
    val_loss: float
    test_accuracy: float
    test_loss: float
    diverged: bool
    divergence_reason: str
    model: keras.Model | None = dataclasses.field(default=None, repr=False)

    @property
    def epochs(self) -> int:
        return len(self.history["val_accuracy"])

    @property
    def gap(self) -> float:
        """Training minus validation accuracy at the best epoch."""
        return self.train_accuracy - self.val_accuracy

    @property
    def seconds(self) -> float:
        return float(sum(self.history["seconds"]))

    def summary(self) -> dict[str, float | int | bool | str]:
        """The scalar results, ready to store next to a trial or a report row."""
        return {
            "best_epoch": self.best_epoch,
            "epochs": self.epochs,
            "train_accuracy": self.train_accuracy,
            "train_loss": self.train_loss,
            "val_accuracy": self.val_accuracy,
            "val_loss": self.val_loss,
            "gap": self.gap,
            "test_accuracy": self.test_accuracy,
            "test_loss": self.test_loss,
            "seconds": self.seconds,
            "diverged": self.diverged,
            "divergence_reason": self.divergence_reason,
        }


class _CompiledNetwork:
    """The network, with its training epoch compiled once for all runs of its shapes.

    A plain `model.fit` on this CPU spends most of its time between small matrix products:
    a tf.data iterator and an executor call per batch. Here a whole epoch is one call: the
    training images stay in memory as a tensor, and a loop inside one compiled graph
    gathers each shuffled batch and runs the forward pass, the gradients and the Keras
    optimizer's update. Below `XLA_BELOW_BATCH_SIZE` XLA compiles that loop into one
    program; above it TensorFlow's graph runs it (see there why).

    Compiling costs more than an epoch, so a compiled network is kept (see `_compiled`)
    and reused by every later run with the same shapes; learning rate, dropout rate and
    L1/L2 strengths are variables read by the graph, not constants baked into it. `start`
    loads a run's freshly built initial weights and zeroes the optimizer state, so a
    reused graph computes exactly what a new one would.
    """

    def __init__(self, shape: ModelConfig, *, dropout: bool, penalty: bool, batch_size: int):
        # The template's variables are the ones the compiled code reads and updates; each
        # run copies its own model's weights in at the start and out when needed.
        self.template = build_model(shape)
        self.dense = [
            layer for layer in self.template.layers if isinstance(layer, keras.layers.Dense)
        ]
        self.weights = self.template.trainable_variables
        self.optimizer = make_optimizer(shape)
        self.optimizer.build(self.weights)
        self.dropout, self.penalty, self.batch_size = dropout, penalty, batch_size
        self.dropout_rate = tf.Variable(0.0, trainable=False)
        # One (l1, l2) pair per Dense kernel, zero where the config puts no penalty.
        self.strengths = tf.Variable(tf.zeros((len(self.dense), 2)), trainable=False)
        self.run_seed = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.epoch = tf.function(
            self._epoch, jit_compile=batch_size < XLA_BELOW_BATCH_SIZE, autograph=False
        )

    def start(self, model: keras.Model, config: ModelConfig, seed: int) -> None:
        """Resets weights, optimizer state and hyperparameters for a new run of `model`."""
        self.template.set_weights(model.get_weights())
        for variable in self.optimizer.variables:
            variable.assign(tf.zeros_like(variable))
        self.optimizer.learning_rate = config.learning_rate
        self.dropout_rate.assign(config.dropout_rate)
        penalised = {
            "hidden": [True] * (len(self.dense) - 1) + [False],
            "output": [False] * (len(self.dense) - 1) + [True],
            "both": [True] * len(self.dense),
        }[config.regularize]
        self.strengths.assign([[config.l1, config.l2] if on else [0.0, 0.0] for on in penalised])
        self.run_seed.assign(seed)

    def _logits(self, images, step=None):
        """The forward pass; with `step` it is the training pass with dropout masks."""
        x = tf.reshape(images, (-1, 28 * 28))
        for index, layer in enumerate(self.dense[:-1]):
            x = layer.activation(tf.matmul(x, layer.kernel) + layer.bias)
            if step is not None and self.dropout:
                # Keras' Dropout draws its masks with the "auto_select" random algorithm,
                # which XLA on CPU runs about 150 times slower than Philox named outright:
                # on a 128-unit layer it doubled the epoch. Same semantics: keep each unit
                # with probability 1 - rate and scale it by 1 / (1 - rate).
                seed = tf.stack([self.run_seed, step * len(self.dense) + index])
                noise = tf.random.stateless_uniform(tf.shape(x), seed, alg="philox")
                x = tf.where(noise >= self.dropout_rate, x / (1.0 - self.dropout_rate), 0.0)
        output = self.dense[-1]
        return tf.matmul(x, output.kernel) + output.bias

    def _step(self, images, labels, count, step):
        """One optimizer step on the first `count` images of the batch.

        Returns the step's loss times `count` and the number of correct predictions. Rows
        past `count` pad the epoch's last batch to the full batch shape; masking them out
        of the mean gives exactly the gradient of the smaller batch Keras would take, and
        one compiled step instead of a second one for the leftover images.
        """
        valid = tf.cast(tf.range(self.batch_size) < count, tf.float32)
        count = tf.cast(count, tf.float32)
        with tf.GradientTape() as tape:
            logits = self._logits(images, step)
            cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
            loss = tf.reduce_sum(cross_entropy * valid) / count
            if self.penalty:
                # What keras.regularizers.L1L2 adds: l1 * sum(|W|) + l2 * sum(W**2).
                for index, layer in enumerate(self.dense):
                    l1, l2 = self.strengths[index, 0], self.strengths[index, 1]
                    kernel = layer.kernel
                    loss += l1 * tf.reduce_sum(tf.abs(kernel)) + l2 * tf.reduce_sum(kernel**2)
        self.optimizer.apply(tape.gradient(loss, self.weights), self.weights)
        hits = tf.cast(tf.argmax(logits, 1, output_type=tf.int32) == labels, tf.float32)
        return loss * count, tf.reduce_sum(hits * valid)

    def _epoch(self, images, labels, order, epoch):
        """Trains one epoch; returns the mean training loss and accuracy seen along the way.

        `order` holds the epoch's shuffled image indices, padded with zeros to a whole
        number of batches; like Keras, the images left over make one smaller last batch.
        """
        size, batch = images.shape[0], self.batch_size
        steps = order.shape[0] // batch
        first_step = tf.cast(epoch, tf.int64) * steps

        def body(step, loss_sum, hits_sum):
            indices = tf.slice(order, [step * batch], [batch])
            loss, hits = self._step(
                tf.gather(images, indices),
                tf.gather(labels, indices),
                tf.minimum(batch, size - step * batch),
                first_step + tf.cast(step, tf.int64),
            )
            return step + 1, loss_sum + loss, hits_sum + hits

        _, loss_sum, hits_sum = tf.while_loop(
            lambda step, *_: step < steps, body, (tf.constant(0), 0.0, 0.0)
        )
        return loss_sum / size, hits_sum / size

    def evaluate(self, images, labels):
        """Cross-entropy without penalty and accuracy, in inference mode.

        Eager on purpose: a dozen large operations over the whole set run as fast as an
        XLA program would, and nothing is compiled for each new set size.
        """
        logits = self._logits(images)
        cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        hits = tf.cast(tf.argmax(logits, 1, output_type=tf.int32) == labels, tf.float32)
        return tf.reduce_mean(cross_entropy), tf.reduce_mean(hits)


# A study trains on the same `Dataset` object trial after trial; copying 200 MB of images
# into fresh tensor memory costs up to 0.7 s on this machine, so each dataset is converted
# once and its tensors live as long as it does.
_TENSORS: weakref.WeakKeyDictionary[Dataset, dict] = weakref.WeakKeyDictionary()

_COMPILED: collections.OrderedDict[tuple, _CompiledNetwork] = collections.OrderedDict()


def _compiled(config: ModelConfig, batch_size: int, train_size: int) -> _CompiledNetwork:
    """The compiled network for `config`'s shapes, compiled now only if no earlier run was."""
    penalty = config.l1 > 0 or config.l2 > 0
    # Everything that is compiled into the program; the rest is fed in as variables.
    shape = dataclasses.replace(
        config,
        dropout_rate=0.0,
        l1=0.0,
        l2=0.0,
        regularize="hidden",
        learning_rate=1e-3,
        momentum=config.momentum if config.optimizer != "adam" else 0.0,
    )
    key = (shape, config.dropout_rate > 0, penalty, batch_size, train_size)
    if key not in _COMPILED:
        _COMPILED[key] = _CompiledNetwork(
            shape, dropout=config.dropout_rate > 0, penalty=penalty, batch_size=batch_size
        )
    _COMPILED.move_to_end(key)
    while len(_COMPILED) > COMPILED_CACHE_SIZE:
        _COMPILED.popitem(last=False)
    return _COMPILED[key]


class _CompiledRun:
    """One run on a compiled network: kerasnn's path on the TensorFlow backend."""

    def __init__(self, model, model_config, train_config, dataset):
        self.network = _compiled(model_config, train_config.batch_size, len(dataset.y_train))
        self.network.start(model, model_config, train_config.seed)
        self.dataset, self.shuffle = dataset, train_config.shuffle
        self.rng = np.random.default_rng(train_config.seed)

    def _split(self, split: str):
        """The split as tensors, converted once per dataset, not once per run or epoch."""
        tensors = _TENSORS.setdefault(self.dataset, {})
        if split not in tensors:
            images = getattr(self.dataset, f"x_{split}")
            labels = getattr(self.dataset, f"y_{split}")
            tensors[split] = (tf.convert_to_tensor(images), tf.convert_to_tensor(labels))
        return tensors[split]

    def fit_epoch(self, epoch: int) -> tuple[float, float]:
        images, labels = self._split("train")
        size = len(self.dataset.y_train)
        order = self.rng.permutation(size) if self.shuffle else np.arange(size)
        order = np.pad(order, (0, -size % self.network.batch_size))
        loss, accuracy = self.network.epoch(
            images, labels, tf.constant(order, tf.int32), tf.constant(epoch, tf.int64)
        )
        return float(loss), float(accuracy)

    def evaluate(self, split: str) -> tuple[float, float]:
        cross_entropy, accuracy = self.network.evaluate(*self._split(split))
        return float(cross_entropy), float(accuracy)

    def weights(self) -> list:
        return self.network.template.get_weights()

    def load(self, weights) -> None:
        self.network.template.set_weights(weights)


class _KerasRun:
    """One run through `model.fit`: the path on other Keras backends (JAX compiles it itself)."""

    def __init__(self, model, model_config, train_config, dataset):
        self.model, self.config, self.dataset = model, train_config, dataset

    def fit_epoch(self, epoch: int) -> tuple[float, float]:
        history = self.model.fit(
            self.dataset.x_train,
            self.dataset.y_train,
            batch_size=self.config.batch_size,
            epochs=epoch + 1,
            initial_epoch=epoch,
            shuffle=self.config.shuffle,
            verbose=0,
        ).history
        return float(history["loss"][-1]), float(history["accuracy"][-1])

    def evaluate(self, split: str) -> tuple[float, float]:
        scores = self.model.evaluate(
            getattr(self.dataset, f"x_{split}"),
            getattr(self.dataset, f"y_{split}"),
            batch_size=EVALUATION_BATCH_SIZE,
            verbose=0,
            return_dict=True,
        )
        return float(scores["cross_entropy"]), float(scores["accuracy"])

    def weights(self) -> list:
        return self.model.get_weights()

    def load(self, weights) -> None:
        self.model.set_weights(weights)


def _run_type():
    return _CompiledRun if keras.backend.backend() == "tensorflow" else _KerasRun


def _divergence(logs: dict[str, float], epoch: int) -> str:
    """Why the run counts as diverged after this epoch, or "" if it does not."""
    if not all(math.isfinite(logs[key]) for key in ("loss", "train_loss", "val_loss")):
        return f"non-finite loss at epoch {epoch + 1}"
    if logs["train_loss"] > BLOW_UP_CROSS_ENTROPY:
        return (
            f"training cross-entropy {logs['train_loss']:.3g} at epoch {epoch + 1} exceeds "
            f"{BLOW_UP_CROSS_ENTROPY:.3g} (3 x chance level)"
        )
    return ""


def train(
    model_config: ModelConfig,
    train_config: TrainConfig,
    dataset: Dataset,
    callbacks=(),
) -> TrainResult:
    """Trains one configuration on `dataset` and measures it.

    Seeds everything from `train_config.seed` and clears the previous run's Keras state,
    so the same arguments give the same numbers on the same machine. On the TensorFlow
    backend each epoch is one call into a graph compiled once per shape and kept for later
    runs (see `_CompiledNetwork`); on other backends (KERAS_BACKEND=jax, ...) it is
    `model.fit`.

    After every epoch the whole training and validation sets are measured in inference
    mode; the run stops early when it diverges (a non-finite loss, or a training
    cross-entropy above `BLOW_UP_CROSS_ENTROPY`), when the validation accuracy has not
    improved for `early_stopping_patience` epochs, or when a callback sets
    `model.stop_training`.

    Args:
        model_config: the network and optimiser.
        train_config: batch size, epochs, shuffling, early stopping and seed.
        dataset: the data; training never reads files.
        callbacks: Keras callbacks, called after kerasnn's own measurement each epoch;
            their `logs` carry the inference-mode `train_accuracy`, `val_accuracy`, ...
            An exception they raise (a pruned trial, say) ends the run and propagates.

    Returns:
        A `TrainResult` whose model holds the weights of the best epoch.
    """
    # No forced garbage collection: it costs a quarter of a second per run here, and
    # Python's own collector frees the previous run's models soon enough.
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(train_config.seed)
    model = build_model(model_config)
    run = _run_type()(model, model_config, train_config, dataset)
    callback_list = keras.callbacks.CallbackList(
        list(callbacks), model=model, epochs=train_config.epochs, verbose=0
    )
    history: dict[str, list[float]] = {key: [] for key in HISTORY_KEYS}
    best_epoch, best_weights, best_accuracy, divergence_reason = 0, None, -1.0, ""
    patience = train_config.early_stopping_patience

    callback_list.on_train_begin()
    for epoch in range(train_config.epochs):
        callback_list.on_epoch_begin(epoch)
        started = time.perf_counter()
        loss, accuracy = run.fit_epoch(epoch)
        train_loss, train_accuracy = run.evaluate("train")
        val_loss, val_accuracy = run.evaluate("validation")
        logs = {
            "loss": loss,
            "accuracy": accuracy,
            "train_loss": train_loss,
            "train_accuracy": train_accuracy,
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
        }
        divergence_reason = _divergence(logs, epoch)
        weights = run.weights()
        if not divergence_reason and (not best_epoch or val_accuracy > best_accuracy):
            best_epoch, best_weights, best_accuracy = epoch + 1, weights, val_accuracy
        logs["seconds"] = time.perf_counter() - started
        for key in HISTORY_KEYS:
            history[key].append(logs[key])
        del logs["seconds"]

        # Callbacks see the model as it stands after this epoch, and the same logs dict
        # in turn, so one may add a key (an objective, say) for the next to read.
        model.set_weights(weights)
        callback_list.on_epoch_end(epoch, logs)
        if divergence_reason or model.stop_training:
            break
        if patience is not None and epoch + 1 - best_epoch >= patience:
            break
    callback_list.on_train_end()

    test_loss = test_accuracy = math.nan
    if best_epoch:
        run.load(best_weights)
        model.set_weights(best_weights)
        test_loss, test_accuracy = run.evaluate("test")

    def at_best(key):
        return history[key][best_epoch - 1] if best_epoch else math.nan

    return TrainResult(
        history=history,
        best_epoch=best_epoch,
        train_accuracy=at_best("train_accuracy"),
        train_loss=at_best("train_loss"),
        val_accuracy=at_best("val_accuracy"),
        val_loss=at_best("val_loss"),
        test_accuracy=test_accuracy,
        test_loss=test_loss,
        diverged=bool(divergence_reason),
        divergence_reason=divergence_reason,
        model=model,
    )
