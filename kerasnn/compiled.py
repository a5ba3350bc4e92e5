"""The compiled TensorFlow training path: a mirror of the model, trained one epoch per call."""

from __future__ import annotations

import collections
import logging
import weakref

import keras
import numpy as np
import tensorflow as tf

from kerasnn import mirror
from kerasnn.data import Dataset

# How many compiled networks to keep. A study mostly revisits a handful of shapes; each
# entry holds a few megabytes of compiled code and one set of weights.
COMPILED_CACHE_SIZE = 16

# float32 batches at least this large train in TensorFlow's graph instead of an XLA program
# (bfloat16 ones always do; see `uses_xla`). An
# epoch of them has at most 100 steps, so the per-step dispatch that XLA removes costs
# little (measured on this CPU: equal epoch times from batch 256 up, hidden 128 and 512);
# TensorFlow's own (oneDNN) products beat XLA's on the large weight-gradient products;
# and building the graph takes about 0.3 s where XLA compiles for 1.5 s per new shape.
XLA_BELOW_BATCH_SIZE = 512

# A float32 run of fewer steps than this (epochs x batches an epoch) trains in TensorFlow's
# graph whatever its batch size: XLA compiles a new shape for about a second longer than the
# graph takes to build, more than it saves on so few steps (`python -m benchmarks.short_runs`
# times both paths side by side on the runs of a small study).
XLA_FROM_STEPS = 500


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


class _CompiledNetwork:
    """A mirror of a model, with its training epoch compiled once for all runs of its shapes.

    A plain `model.fit` on this CPU spends most of its time between small matrix products:
    a tf.data iterator and an executor call per batch. Here a whole epoch is one call: the
    training images stay in memory as a tensor, and a loop inside one compiled graph
    gathers each shuffled batch and runs the forward pass, the gradients and the Keras
    optimizer's update. XLA compiles that loop into one program where `uses_xla` says so;
    elsewhere TensorFlow's graph runs it (see there why).

    Compiling costs more than an epoch, so a compiled network is kept (see `_compiled`)
    and reused by every later run with the same shapes; learning rate, dropout rates and
    L1/L2 strengths are variables read by the graph, not constants baked into it. `start`
    loads a run's model: its initial weights and those hyperparameters, read from its
    layers; and zeroes the optimizer state, so a reused graph computes exactly what a new
    one would.
    """

    def __init__(
        self,
        model: keras.Model,
        *,
        dropout: bool,
        regularized: bool,
        batch_size: int,
        jit_compile: bool | None = None,
    ):
        # The template's variables are the ones the compiled code reads and updates; each
        # run copies its own model's weights in at the start and out when needed.
        self.template = keras.models.clone_model(model)
        self.dense = mirror.dense_layers(self.template)
        self.weights = self.template.trainable_variables
        # Values per example: the Flatten layer's output, which the first kernel multiplies.
        self.inputs = self.dense[0].kernel.shape[0]
        # The first Dense layer's compute dtype is what it casts the images to; the images
        # are kept in it (see `CompiledRun._split`), which halves what each step gathers
        # under bfloat16 and computes the same: casting a gathered batch or gathering from
        # the cast set round each pixel alike.
        self.image_dtype = self.dense[0].dtype_policy.compute_dtype
        self.optimizer = type(model.optimizer).from_config(model.optimizer.get_config())
        self.optimizer.build(self.weights)
        self.dropout, self.regularized, self.batch_size = dropout, regularized, batch_size
        self.dropout_rates = tf.Variable(tf.zeros(len(self.dense) - 1), trainable=False)
        # One (l1, l2) pair per Dense kernel, zero where the model has no regularizer.
        self.strengths = tf.Variable(tf.zeros((len(self.dense), 2)), trainable=False)
        self.run_seed = tf.Variable(0, dtype=tf.int64, trainable=False)
        if jit_compile is None:
            jit_compile = uses_xla(batch_size, mirror.compute_dtypes(model))
        self.xla = jit_compile
        self.epoch = tf.function(self._epoch, jit_compile=jit_compile, autograph=False)

    def start(self, model: keras.Model, seed: int) -> None:
        """Resets weights, optimizer state and hyperparameters for a new run of `model`."""
        self.template.set_weights(model.get_weights())
        for variable in self.optimizer.variables:
            variable.assign(tf.zeros_like(variable))
        self.optimizer.learning_rate = mirror.learning_rate(model)
        self.dropout_rates.assign(mirror.dropout_rates(model))
        self.strengths.assign(mirror.kernel_strengths(model))
        self.run_seed.assign(seed)

    def _logits(self, images, step=None):
        """The forward pass; with `step` it is the training pass with dropout masks."""
        x = tf.reshape(images, (-1, self.inputs))
        for index, layer in enumerate(self.dense[:-1]):
            x = self._dense(layer, x)
            if step is not None and self.dropout:
                # Keras' Dropout draws its masks with the "auto_select" random algorithm,
                # which XLA on CPU runs about 150 times slower than Philox named outright:
                # on a 128-unit layer it doubled the epoch. Same semantics: keep each unit
                # with probability 1 - rate and scale it by 1 / (1 - rate).
                rate = self.dropout_rates[index]
                seed = tf.stack([self.run_seed, step * len(self.dense) + index])
                noise = tf.random.stateless_uniform(tf.shape(x), seed, alg="philox")
                x = tf.where(noise >= rate, x / (1.0 - rate), 0.0)
        output = self.dense[-1]
        # Logits, not the softmax: the loss below takes them, as Keras' does on a softmax.
        return tf.matmul(x, output.kernel) + output.bias

    @staticmethod
    def _dense(layer, x):
        """A hidden Dense layer as Keras computes it under the layer's dtype policy.

        Under mixed_bfloat16 Keras casts the input, the kernel and the bias to bfloat16 and
        computes the product, the bias and the activation there; the gradient flows back
        through the casts to the float32 weights. The next layer (a Dropout, or the output
        Dense, both float32: `mirror.cannot_mirror` admits no other) casts the result back.
        """
        dtype = layer.dtype_policy.compute_dtype
        if dtype == "float32":
            return layer.activation(tf.matmul(x, layer.kernel) + layer.bias)
        x = tf.matmul(tf.cast(x, dtype), tf.cast(layer.kernel, dtype))
        return tf.cast(layer.activation(x + tf.cast(layer.bias, dtype)), tf.float32)

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
            if self.regularized:
                # What keras.regularizers.L1L2 adds: l1 * sum(|W|) + l2 * sum(W**2); the
                # strengths are zero on kernels without a regularizer.
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
        """Cross-entropy without the L1/L2 term and accuracy, in inference mode.

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


def _compiled(
    model: keras.Model, batch_size: int, train_size: int, epochs: int | None = None
) -> _CompiledNetwork:
    """The compiled network mirroring `model`, compiled now only if no earlier run was;
    `epochs` (None: a long run) decides with the batch size whether it is XLA's."""
    reason = mirror.cannot_mirror(model)
    if reason:
        raise ValueError(f"the compiled path cannot mirror this model: {reason}")
    dropout = any(rate > 0 for rate in mirror.dropout_rates(model))
    regularized = any(layer.kernel_regularizer is not None for layer in mirror.dense_layers(model))
    steps = None if epochs is None else epochs * -(-train_size // batch_size)
    xla = uses_xla(batch_size, mirror.compute_dtypes(model), steps)
    key = (_program(model), dropout, regularized, batch_size, train_size, xla)
    if key not in _COMPILED:
        _COMPILED[key] = _CompiledNetwork(
            model, dropout=dropout, regularized=regularized, batch_size=batch_size, jit_compile=xla
        )
    _COMPILED.move_to_end(key)
    while len(_COMPILED) > COMPILED_CACHE_SIZE:
        _COMPILED.popitem(last=False)
    return _COMPILED[key]


def _program(model: keras.Model) -> tuple:
    """What of `model` is compiled into the program; `start` feeds in the rest as variables.

    That is the example shape, the layers with their widths, activations and dtype policies, and the optimizer with its
    settings (momentum, epsilon, ...) except the learning rate; not the dropout rates, the
    L1/L2 strengths, the learning rate or the weights.
    """
    layer_shapes = tuple(
        (
            type(layer),
            getattr(layer, "units", None),
            getattr(layer, "activation", None),
            layer.dtype_policy.name,
        )
        for layer in model.layers
    )
    example_shape = tuple(model.inputs[0].shape[1:])
    return example_shape, layer_shapes, *mirror.optimizer_settings(model)


class CompiledRun:
    """One `train` run on the compiled network that mirrors its model (see `kerasnn.mirror.cannot_mirror`).

    Args:
        model: the run's freshly built model; its weights are copied in, and its layers
            give the dropout rates and L1/L2 strengths, its optimizer the learning rate.
        train_config: batch size, shuffling and seed (of the order and dropout masks).
        dataset: the data, kept in memory as tensors across runs.
    """

    def __init__(self, model: keras.Model, train_config, dataset: Dataset):
        self.network = _compiled(
            model, train_config.batch_size, len(dataset.y_train), train_config.epochs
        )
        self.network.start(model, train_config.seed)
        self.dataset, self.shuffle = dataset, train_config.shuffle
        self.rng = np.random.default_rng(train_config.seed)

    def _split(self, split: str):
        """The split as tensors, its images in the dtype the network's first layer computes
        in; converted once per dataset and dtype, not once per run or epoch."""
        tensors = _TENSORS.setdefault(self.dataset, {})
        key = (split, self.network.image_dtype)
        if key not in tensors:
            images = tf.convert_to_tensor(getattr(self.dataset, f"x_{split}"))
            labels = getattr(self.dataset, f"y_{split}")
            tensors[key] = (tf.cast(images, key[1]), tf.convert_to_tensor(labels))
        return tensors[key]

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


def uses_xla(batch_size: int, compute_dtypes, steps: int | None = None) -> bool:
    """Whether an epoch of this batch size and these layers' compute dtypes, in a run of
    `steps` steps (None: a long run), runs as XLA.

    float32 below `XLA_BELOW_BATCH_SIZE`, in runs of at least `XLA_FROM_STEPS` steps.
    bfloat16 never: XLA on the CPU does not hand its bfloat16 products to oneDNN as
    TensorFlow's graph does, and measured here
    (benchmarks/precision.py, the step's table) its epochs ran several times slower than
    the graph's from batch 1000 up, while at batch 128 neither was faster consistently
    across runs on this shared CPU.
    """
    long_enough = steps is None or steps >= XLA_FROM_STEPS
    small_batches = batch_size < XLA_BELOW_BATCH_SIZE
    return long_enough and small_batches and all(dtype == "float32" for dtype in compute_dtypes)
