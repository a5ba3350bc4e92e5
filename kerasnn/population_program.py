"""The compiled program of a population (see `kerasnn.population`): one `Spec`, its network
and optimizer, and the jitted epoch, measure and select functions it runs for every member.

What may differ between the members of one program is data fed to it, not code compiled
into it; this module holds that code, and `kerasnn.population` decides which members share
a program and drives its epochs.
"""

from __future__ import annotations

import dataclasses
import time
import weakref

import jax
import jax.numpy as jnp
import keras
import numpy as np
from keras import layers, ops

from kerasnn import mirror
from kerasnn.config import ModelConfig
from kerasnn.data import Dataset
from kerasnn.models import build_model

# Images per member measured at once in the inference-mode passes.
EVALUATION_CHUNK = 1024


@dataclasses.dataclass
class Clock:
    """Where a call's time went, and which programs it ran."""

    compile_seconds: float = 0.0
    train_seconds: float = 0.0
    last_seconds: float = 0.0  # What the last program call ran for, compiling excluded.
    compiled_programs: int = 0
    loaded_programs: int = 0
    programs: set = dataclasses.field(default_factory=set)


def hidden_layers(model: keras.Model) -> list[layers.Dense]:
    return mirror.dense_layers(model)[:-1]


@dataclasses.dataclass(frozen=True)
class Spec:
    """Everything a program is compiled for; members differing in anything else share it."""

    hidden_layers: int
    width: int  # Hidden units, padded to a power of two; 0 for softmax regression.
    batch_size: int  # Rows per member and step: a bucket (a power), or the training set's size.
    members: int  # A power of two; the places past the population's train nothing.
    optimizer: tuple  # `mirror.optimizer_settings`: type and settings but the learning rate.
    activations: tuple  # The hidden activations members choose among.
    dropout: bool  # Whether any member drops units (else no masks are drawn).
    train_size: int
    input_shape: tuple = (28, 28)  # One example's shape, the data's.
    classes: int = 10  # The output layer's width, the data's.


# Executables JAX loaded from its persistent compilation cache in this process, counted
# through its public monitoring events (the event's name is JAX's: watch it on upgrades).
_CACHE_HITS = [0]


def _count_cache_hit(event: str, **_) -> None:
    if event == "/jax/compilation_cache/cache_hits":
        _CACHE_HITS[0] += 1


jax.monitoring.register_event_listener(_count_cache_hit)


def activation_name(function) -> str:
    return function.__name__


class Program:
    """A population's epoch, compiled for one `_Spec`, and the network it runs.

    The network is `build_model`'s at the spec's width, with linear hidden activations
    (each member's own is applied after its layer) and no dropout or regularizer (each
    member's rate and strengths are applied here as data); its layers are called through
    `stateless_call`, and the member's optimizer through `stateless_apply`.
    """

    def __init__(self, spec: Spec, example: keras.Model):
        self.spec = spec
        config = ModelConfig(
            hidden_units=spec.width,
            hidden_layers=max(1, spec.hidden_layers),
            activation="linear",
            input_shape=spec.input_shape,
            classes=spec.classes,
        )
        self.template = build_model(config)
        if [type(layer) for layer in self.template.layers] != [
            type(layer) for layer in example.layers
        ]:
            raise ValueError("the population's network does not have its members' layers")
        self.optimizer = type(example.optimizer).from_config(example.optimizer.get_config())
        self.optimizer.build(self.template.trainable_variables)
        positions = {v.path: i for i, v in enumerate(self.template.trainable_variables)}
        self.layers = [
            (layer, [positions[v.path] for v in layer.trainable_variables])
            for layer in self.template.layers
            if type(layer) is not layers.InputLayer
        ]
        self.kernels = [
            positions[layer.kernel.path] for layer in mirror.dense_layers(self.template)
        ]
        self.epoch = jax.jit(self._epoch)
        self.measure = jax.jit(self._measure)
        self.select = jax.jit(_select)
        self.executables = {}

    def call(self, clock: Clock, name: str, *args):
        """Runs the jitted function `name`, compiling it first for new argument shapes."""
        signature = (name, *((leaf.shape, leaf.dtype) for leaf in jax.tree.leaves(args)))
        if signature not in self.executables:
            started, loaded = time.perf_counter(), _CACHE_HITS[0]
            self.executables[signature] = getattr(self, name).lower(*args).compile()
            clock.compile_seconds += time.perf_counter() - started
            clock.compiled_programs += name == "epoch"
            clock.loaded_programs += name == "epoch" and _CACHE_HITS[0] > loaded
        started = time.perf_counter()
        outputs = jax.block_until_ready(self.executables[signature](*args))
        clock.last_seconds = time.perf_counter() - started
        clock.train_seconds += clock.last_seconds
        return outputs

    def settings(self, group: list) -> dict:
        """The members' hyperparameters as arrays, one row per place (padding copies the first)."""
        padded = group + group[:1] * (self.spec.members - len(group))
        configs = [member.train_config for member in padded]
        models = [member.model for member in padded]
        shape = (len(models), self.spec.hidden_layers)
        activations = [
            [self.spec.activations.index(layer.activation) for layer in hidden_layers(model)]
            for model in models
        ]
        return {
            "batch_size": np.int32([config.batch_size for config in configs]),
            "seed": np.uint32([config.seed % 2**32 for config in configs]),
            "shuffle": np.bool_([config.shuffle for config in configs]),
            "dropout": np.float32([mirror.dropout_rates(model) for model in models]).reshape(shape),
            "strengths": np.float32([mirror.kernel_strengths(model) for model in models]),
            "activation": np.int32(activations).reshape(shape),
            "masks": _stack(models, self.template, lambda weight: np.ones(weight.shape, bool)),
        }

    def start(self, group: list) -> tuple[list, list]:
        """The members' initial weights (padded with zeros) and fresh optimizer states."""
        padded = group + group[:1] * (self.spec.members - len(group))
        models = [member.model for member in padded]
        params = _stack(models, self.template, lambda weight: weight)
        states = []
        for model in models:
            # The member's own optimizer (its learning rate), fresh, on the padded shapes.
            optimizer = type(model.optimizer).from_config(model.optimizer.get_config())
            optimizer.build(self.template.trainable_variables)
            states.append([np.asarray(variable.value) for variable in optimizer.variables])
        return params, [np.stack(values) for values in zip(*states, strict=True)]

    # The functions below run inside the compiled program. Those named for one member see
    # one member's slice of every stacked array; `_epoch` maps them over the members.

    def _features(self, params, member, images, key=None):
        """What the output layer receives: the images through every hidden block.

        With a `key`, in training mode: the member's dropout masks derive from it.
        """
        x, hidden = images, 0
        for layer, positions in self.layers[:-1]:
            if type(layer) is layers.Dropout:
                if key is not None and self.spec.dropout:
                    rate = member["dropout"][hidden - 1]
                    x = _dropout(x, rate, jax.random.fold_in(key, hidden))
                continue
            x, _ = layer.stateless_call([params[i] for i in positions], [], x)
            if type(layer) is layers.Dense:
                x = self._activate(x, member["activation"][hidden])
                hidden += 1
        return x

    def _forward(self, params, member, images, key=None):
        """The member's class probabilities (the output layer is the model's last)."""
        output, positions = self.layers[-1]
        features = self._features(params, member, images, key)
        probabilities, _ = output.stateless_call([params[i] for i in positions], [], features)
        return probabilities

    def _activate(self, x, index):
        branches = list(self.spec.activations)
        return branches[0](x) if len(branches) == 1 else ops.switch(index, branches, x)

    def _loss(self, params, member, images, labels, valid, key):
        """Keras' training loss on the valid rows: mean cross-entropy plus L1/L2 terms."""
        probabilities = self._forward(params, member, images, key)
        per_row = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
        cross_entropy = ops.sum(ops.where(valid, per_row, 0.0)) / ops.sum(valid)
        penalties = [
            _penalty(params[position], strength)
            for position, strength in zip(self.kernels, member["strengths"], strict=True)
        ]
        return ops.sum(ops.stack([cross_entropy, *penalties])), probabilities

    def _step(self, params, slots, member, alive, order, key, index, images, labels):
        """One optimizer step of one member on its `index`-th batch; a no-op past its last.

        Returns the new weights and optimizer state, the step's loss times its rows, and its
        correct predictions (as Keras' running loss and accuracy count them).
        """
        rows = jnp.arange(self.spec.batch_size)
        first = index * member["batch_size"]
        valid = (rows < member["batch_size"]) & (first + rows < self.spec.train_size)
        picked = order[jnp.minimum(first + rows, self.spec.train_size - 1)]
        batch_labels = labels[picked]
        gradient = jax.value_and_grad(self._loss, has_aux=True)
        (loss, probabilities), grads = gradient(
            params, member, images[picked], batch_labels, valid, jax.random.fold_in(key, index)
        )
        # Padded units' weights get no gradient, so they stay zero and change nothing.
        grads = [
            jnp.where(mask, grad, 0.0) for grad, mask in zip(grads, member["masks"], strict=True)
        ]
        new_params, new_slots = self.optimizer.stateless_apply(slots, grads, params)
        active = alive & valid[0]

        def keep(new, old):
            return [jnp.where(active, n, o) for n, o in zip(new, old, strict=True)]

        hits = jnp.sum(valid & (jnp.argmax(probabilities, -1) == batch_labels))
        loss_sum = jnp.where(active, loss * jnp.sum(valid), 0.0)
        return (
            keep(new_params, params),
            keep(new_slots, slots),
            loss_sum,
            jnp.where(active, hits, 0),
        )

    def _epoch(self, params, slots, settings, alive, epoch, steps, images, labels, *validation):
        """Trains every live member one epoch, then measures both sets in inference mode."""
        keys = jax.vmap(self._member_keys, in_axes=(0, None))(settings["seed"], epoch)
        orders = jax.vmap(self._order)(keys[:, 0], settings["shuffle"])
        step = jax.vmap(self._step, in_axes=(0, 0, 0, 0, 0, 0, None, None, None))

        def body(index, carry):
            params, slots, loss_sum, hits = carry
            params, slots, loss, hit = step(
                params, slots, settings, alive, orders, keys[:, 1], index, images, labels
            )
            return params, slots, loss_sum + loss, hits + hit

        zeros = jnp.zeros(self.spec.members)
        params, slots, loss_sum, hits = jax.lax.fori_loop(
            0, steps, body, (params, slots, zeros, zeros)
        )
        train_loss, train_accuracy = self._measure(params, settings, images, labels)
        val_loss, val_accuracy = self._measure(params, settings, *validation)
        size = self.spec.train_size
        measures = {
            "loss": loss_sum / size,
            "accuracy": hits / size,
            "train_loss": train_loss,
            "train_accuracy": train_accuracy,
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
        }
        return params, slots, measures

    def _member_keys(self, seed, epoch):
        """A member's two keys for an epoch, from its seed alone: one for its batch order,
        one from which each step's (and each layer's) dropout masks derive."""
        return jax.random.split(jax.random.fold_in(jax.random.key(seed), epoch))

    def _order(self, key, shuffle):
        """The member's batch order this epoch: shuffled from its seed, or as stored."""
        size = self.spec.train_size
        shuffled = jax.random.permutation(key, size)
        return jnp.where(shuffle, shuffled, jnp.arange(size))

    def _measure(self, params, settings, images, labels):
        """Each member's cross-entropy (without L1/L2) and accuracy, in inference mode.

        The set comes padded to whole chunks, its padding labelled -1 (see `device_split`).
        """
        chunks = (-1, EVALUATION_CHUNK)
        forward = jax.vmap(self._forward, in_axes=(0, 0, None))

        def body(totals, chunk):
            x, y = chunk
            valid = y >= 0
            probabilities = forward(params, settings, x)
            targets = jnp.broadcast_to(jnp.maximum(y, 0), probabilities.shape[:2])
            per_row = keras.losses.sparse_categorical_crossentropy(targets, probabilities)
            hits = valid & (jnp.argmax(probabilities, -1) == y)
            sums = jnp.sum(jnp.where(valid, per_row, 0.0), 1), jnp.sum(hits, 1)
            return (totals[0] + sums[0], totals[1] + sums[1]), None

        zeros = jnp.zeros(self.spec.members)
        split = (images.reshape(*chunks, *images.shape[1:]), labels.reshape(chunks))
        (cross_entropy, hits), _ = jax.lax.scan(body, (zeros, zeros), split)
        count = jnp.sum(labels >= 0)
        return cross_entropy / count, hits / count


def _stack(models, template: keras.Model, values) -> list[np.ndarray]:
    """`values(weight)` of every model's weights, zero-padded to the template's, stacked."""
    stacked = []
    for position, variable in enumerate(template.trainable_variables):
        rows = []
        for model in models:
            weight = np.asarray(model.trainable_variables[position].value)
            padding = [
                (0, full - own) for full, own in zip(variable.shape, weight.shape, strict=True)
            ]
            rows.append(np.pad(values(weight), padding))
        stacked.append(np.stack(rows))
    return stacked


def _select(best, params, improved):
    """The weights of `params` for the improved members, of `best` for the others."""
    return [
        jnp.where(improved.reshape(-1, *[1] * (b.ndim - 1)), p, b)
        for b, p in zip(best, params, strict=True)
    ]


def _dropout(x, rate, key):
    """Keras' Dropout at a rate given as data: zero with probability `rate`, scale the rest."""
    keep = jax.random.uniform(key, x.shape) >= rate
    return jnp.where(keep, x / (1.0 - rate), 0.0)


def _penalty(kernel, strength):
    """What keras.regularizers.L1L2(l1, l2) adds for `kernel`; zero strengths add zero."""
    l1, l2 = strength[0], strength[1]
    return l1 * ops.sum(ops.absolute(kernel)) + l2 * ops.sum(ops.square(kernel))


# The dataset's splits on the device, converted once per dataset and kept as long as it is.
_DEVICE: weakref.WeakKeyDictionary[Dataset, dict] = weakref.WeakKeyDictionary()


def device_split(dataset: Dataset, split: str) -> tuple[jax.Array, jax.Array]:
    """A split's images and labels on the device, padded to whole evaluation chunks.

    Padded rows are labelled -1: the measures leave them out, and training never draws them.
    """
    splits = _DEVICE.setdefault(dataset, {})
    if split not in splits:
        images = getattr(dataset, f"x_{split}")
        labels = getattr(dataset, f"y_{split}")
        padding = -len(labels) % EVALUATION_CHUNK
        images = np.pad(images, [(0, padding)] + [(0, 0)] * (images.ndim - 1))
        labels = np.pad(labels.astype(np.int32), (0, padding), constant_values=-1)
        splits[split] = (jnp.asarray(images, jnp.float32), jnp.asarray(labels))
    return splits[split]
