"""Training many configurations at once, as one compiled JAX program per group of networks.

A GPU trains one small network at a time far below what it can do: each step is a few
small matrix products and a dispatch. Here the networks of a population are stacked and
trained together: one program runs a whole epoch of every member (`jax.vmap` over the
members of a step, a loop over the steps), then measures the whole training and validation
sets in inference mode, as `train` does after every epoch.

The network is the one `build_model` makes, run layer by layer through Keras'
`stateless_call`, with Keras' own optimizer (`stateless_apply`) and loss; nothing of it is
written again here, and a model `kerasnn.mirror.cannot_mirror` refuses is refused here too.
What may differ between the members of one program is data fed to it, not code compiled
into it: initial weights, learning rate, dropout rate, L1/L2 strengths and placement, the
seed (of the batch order and the dropout masks), the number of epochs, the hidden width
(padded to the program's width with units whose weights are held at zero), the batch size
(padded to the program's batch with rows masked out of the loss, each member taking its own
number of steps) and the activation (each member's chosen per element among the program's).

Members are grouped into as few programs as that leaves (see `_group_key`): one per
number of hidden layers, batch-size bucket (the next power of two) and optimizer settings
other than the learning rate. Compiling dominates a population's wall time (about 10 s per
program on a GPU against well under a second of training per configuration and epoch), so
programs have fixed sizes (members padded to a power of two, width to a power of two) and
are kept for later calls; JAX's persistent compilation cache (`JAX_COMPILATION_CACHE_DIR`)
keeps them across processes as well.

`FixedShapes` goes further, for a GPU, where compiling is the cost: every program has at
least a given width and number of members (a study's widest network and its K), draws
dropout masks (a rate of 0 keeps every unit exactly) and holds every activation kerasnn
offers, and batch sizes are bucketed by powers of four, so that a study's populations share
one program per batch bucket. On a CPU that padding is computed, not hidden, so it is a
policy a caller chooses by device.

This module needs the JAX backend (KERAS_BACKEND=jax): stacking networks and looping over
steps inside one program are JAX transformations of the Keras layers' stateless calls,
which Keras' TensorFlow backend does not offer. TensorFlow need not be installed.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import time
import weakref
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import keras
import numpy as np
from keras import layers, ops

from kerasnn import mirror
from kerasnn.config import ACTIVATIONS, ModelConfig, TrainConfig
from kerasnn.data import Dataset
from kerasnn.models import build_model
from kerasnn.training import EpochRecord, TrainResult, clamp_batch_size

# Most members one program trains; more are split into populations of this size, which
# reuse one program.
MAX_MEMBERS = 64
# Most image rows one step gathers over all members: bounds a step's memory (about 400 MB of
# images at 2**17 rows), so populations of large batches hold fewer members.
MAX_ROWS_PER_STEP = 2**17
# Images per member measured at once in the inference-mode passes.
EVALUATION_CHUNK = 1024
# How many programs to keep for later calls.
PROGRAM_CACHE_SIZE = 8

# Called after every epoch of every member: (member index, epoch (0-based), logs). A true
# return value stops that member; an exception it raises stops that member and is kept in
# `PopulationResult.errors`.
OnEpoch = Callable[[int, int, dict[str, float]], bool | None]


@dataclasses.dataclass(frozen=True)
class FixedShapes:
    """Program shapes fixed in advance, so that many populations share few programs.

    Every program then has at least `width` hidden units and `members` places (each rounded
    up to a power of two), draws dropout masks, and holds every activation of
    `kerasnn.config.ACTIVATIONS`; batch sizes are bucketed by powers of four rather than two.
    What a member computes does not change: padded units hold zero weights, a dropout rate
    of 0 keeps every unit, and each member applies its own activation.
    """

    width: int = 0  # Hidden units every program has at least (a study's widest network).
    members: int = 1  # Places every program has at least (a study's population size K).

    def __post_init__(self):
        for name, least in (("width", 0), ("members", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(
                    f"FixedShapes: {name} must be an integer >= {least}, got {value!r}"
                )


@dataclasses.dataclass(frozen=True, eq=False)
class PopulationResult:
    """What a population measured: one `TrainResult` per run, in the order given.

    `results[i].history["seconds"]` is member i's share of each epoch's wall time (the
    epoch's time divided by the members it trained), compiling excluded.
    """

    results: list[TrainResult]
    errors: list[BaseException | None]  # What each member's `on_epoch` raised, if it did.
    compile_seconds: float  # Compiling programs this call could not reuse.
    train_seconds: float  # Everything else the programs ran: training and measuring.
    programs: int  # Distinct programs the population ran.
    compiled_programs: int  # Of those, how many this call compiled (or loaded from a JAX cache).
    loaded_programs: int = 0  # Of those compiled, how many JAX's persistent cache held.


@dataclasses.dataclass(eq=False)
class _Member:
    index: int
    train_config: TrainConfig
    model: keras.Model
    record: EpochRecord
    stopped: bool = False
    error: BaseException | None = None
    result: TrainResult | None = None

    def trains(self, epoch: int) -> bool:
        return not self.stopped and epoch < self.train_config.epochs


def train_population(
    runs: Sequence[tuple[ModelConfig, TrainConfig]],
    dataset: Dataset,
    on_epoch: OnEpoch | None = None,
    *,
    test: bool = False,
    fixed_shapes: FixedShapes | None = None,
) -> PopulationResult:
    """Trains every (model config, train config) of `runs` as members of compiled populations.

    Each member's `TrainResult` has the fields, history and meaning `train` gives it: the
    same initial weights (from its seed), inference-mode measures of the training and
    validation sets every epoch, the best epoch by validation accuracy with its weights in
    `model`, divergence (a member whose loss becomes NaN fails alone), early stopping by
    its `early_stopping_patience`. With dropout 0 and `shuffle=False` a member ends every
    epoch with the weights `train` gives on the JAX backend, within float32 rounding. With
    shuffling or dropout it draws its own batch orders and masks from its seed: other ones
    than `model.fit` draws, and its masks depend on the program's padded shape too. A batch
    size larger than the training set is clamped as in `train`.

    Members stop on their own (epochs done, diverged, out of patience, or stopped by
    `on_epoch`) without changing what the others compute.

    Args:
        runs: the configurations. One `cannot_train` refuses (a model the population
            cannot mirror exactly) raises ValueError naming the run: a caller checks with
            `cannot_train` first and trains those with `kerasnn.train` instead.
        dataset: the data, copied to the device once per dataset.
        on_epoch: called after every epoch of every member (see `OnEpoch`) with logs
            holding `loss`, `accuracy`, `train_loss`, `train_accuracy`, `val_loss` and
            `val_accuracy` as in `train`; it may add keys, which are not kept. It does not
            see the model: the members' weights are only loaded at the end.
        test: evaluate the test set with each member's best weights (NaN otherwise).
        fixed_shapes: compile programs of these shapes at least (see `FixedShapes`), so
            that later calls with other members reuse them; None: each population's own.

    Raises:
        ValueError: an argument it cannot train, named (an empty `runs`, say).
        RuntimeError: the Keras backend is not JAX.
    """
    _check_arguments(runs, dataset, on_epoch)
    if fixed_shapes is not None and not isinstance(fixed_shapes, FixedShapes):
        raise ValueError(
            "train_population: fixed_shapes must be a FixedShapes or None, "
            f"got {type(fixed_shapes).__name__}"
        )
    if keras.backend.backend() != "jax":
        raise RuntimeError(
            "train_population needs the JAX backend (set KERAS_BACKEND=jax before importing "
            f"keras); this process runs {keras.backend.backend()!r}. Use kerasnn.train."
        )
    train_size = len(dataset.y_train)
    members = [_member(index, *run, train_size) for index, run in enumerate(runs)]
    clock = _Clock()
    for group in _groups(members, fixed_shapes):
        program = _program(group, train_size, clock, fixed_shapes)
        _train_group(program, group, dataset, on_epoch, clock, test=test)
    return PopulationResult(
        results=[member.result for member in members],
        errors=[member.error for member in members],
        compile_seconds=clock.compile_seconds,
        train_seconds=clock.train_seconds,
        programs=len(clock.programs),
        compiled_programs=clock.compiled_programs,
        loaded_programs=clock.loaded_programs,
    )


def _check_arguments(runs, dataset, on_epoch) -> None:
    """Refuses, naming the argument, what `train_population` cannot train."""
    if isinstance(runs, str | bytes) or not isinstance(runs, Sequence):
        raise ValueError(
            "train_population: runs must be a list of (ModelConfig, TrainConfig) pairs, "
            f"got {type(runs).__name__}"
        )
    if not runs:
        raise ValueError("train_population: runs is empty; give at least one configuration")
    for index, run in enumerate(runs):
        if not (
            isinstance(run, tuple | list)
            and len(run) == 2
            and isinstance(run[0], ModelConfig)
            and isinstance(run[1], TrainConfig)
        ):
            raise ValueError(
                f"train_population: runs[{index}] must be a (ModelConfig, TrainConfig) pair, "
                f"got {type(run).__name__}"
            )
    if not isinstance(dataset, Dataset):
        raise ValueError(
            "train_population: dataset must be a kerasnn Dataset (see load_dataset), "
            f"got {type(dataset).__name__}"
        )
    if on_epoch is not None and not callable(on_epoch):
        raise ValueError(
            f"train_population: on_epoch must be callable or None, got {type(on_epoch).__name__}"
        )


def cannot_train(model_config: ModelConfig) -> str | None:
    """Why `train_population` refuses this configuration, or None if it trains it.

    A refused configuration is one whose model the population cannot mirror exactly (see
    `kerasnn.mirror.cannot_mirror`); a caller trains it with `kerasnn.train` instead. Every
    model today's `build_model` makes is mirrored, whatever its width, number of hidden
    layers, activation, optimizer or L1/L2 placement: this guards against a builder that
    changes beyond what is mirrored.
    """
    return mirror.cannot_mirror(build_model(model_config))


def _member(index: int, model_config, train_config, train_size: int) -> _Member:
    """Builds a member's model exactly as `train` would for it, so that it starts alike."""
    if train_config.precision != "float32":
        raise ValueError(
            f"run {index}: the population trains in float32 only, not "
            f"{train_config.precision}; train it with kerasnn.train"
        )
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(train_config.seed)
    model = build_model(model_config)
    reason = mirror.cannot_mirror(model)
    if reason:
        raise ValueError(
            f"run {index}: the population cannot mirror its model ({reason}); "
            "train it with kerasnn.train (see cannot_train)"
        )
    train_config = clamp_batch_size(train_config, train_size)
    return _Member(index, train_config, model, EpochRecord(train_config.early_stopping_patience))


@dataclasses.dataclass
class _Clock:
    """Where a call's time went, and which programs it ran."""

    compile_seconds: float = 0.0
    train_seconds: float = 0.0
    last_seconds: float = 0.0  # What the last program call ran for, compiling excluded.
    compiled_programs: int = 0
    loaded_programs: int = 0
    programs: set = dataclasses.field(default_factory=set)


def _bucket(value: int, base: int = 2) -> int:
    """The next power of `base` at or above `value` (1 for 0)."""
    bucket = 1
    while bucket < value:
        bucket *= base
    return bucket


def _batch_bucket(batch_size: int, fixed: FixedShapes | None) -> int:
    """The rows of a step in the program a batch size trains in: fewer, larger buckets under
    fixed shapes, where a program costs more than a step's padded rows."""
    return _bucket(batch_size, 2 if fixed is None else 4)


def _capacity(batch: int) -> int:
    """The most members a program of `batch` rows per member and step holds."""
    return max(1, min(MAX_MEMBERS, MAX_ROWS_PER_STEP // batch))


def _group_key(member: _Member, fixed: FixedShapes | None = None) -> tuple:
    """What members must share to train in one program; everything else is padded or data."""
    hidden_layers = len(mirror.dense_layers(member.model)) - 1
    batch = _batch_bucket(member.train_config.batch_size, fixed)
    return hidden_layers, batch, mirror.optimizer_settings(member.model)


def _groups(members: list[_Member], fixed: FixedShapes | None = None) -> list[list[_Member]]:
    """Members grouped by `_group_key`, each group cut into populations a program can hold."""
    grouped = collections.defaultdict(list)
    for member in members:
        grouped[_group_key(member, fixed)].append(member)
    populations = []
    for (_, batch, _), group in grouped.items():
        capacity = _capacity(batch)
        populations += [group[i : i + capacity] for i in range(0, len(group), capacity)]
    return populations


def _hidden_layers(model: keras.Model) -> list[layers.Dense]:
    return mirror.dense_layers(model)[:-1]


@dataclasses.dataclass(frozen=True)
class _Spec:
    """Everything a program is compiled for; members differing in anything else share it."""

    hidden_layers: int
    width: int  # Hidden units, padded to a power of two; 0 for softmax regression.
    batch_size: int  # Rows per member and step: a bucket (a power), or the training set's size.
    members: int  # A power of two; the places past the population's train nothing.
    optimizer: tuple  # `mirror.optimizer_settings`: type and settings but the learning rate.
    activations: tuple  # The hidden activations members choose among.
    dropout: bool  # Whether any member drops units (else no masks are drawn).
    train_size: int


_PROGRAMS: collections.OrderedDict[_Spec, _Program] = collections.OrderedDict()

# Executables JAX loaded from its persistent compilation cache in this process, counted
# through its public monitoring events (the event's name is JAX's: watch it on upgrades).
_CACHE_HITS = [0]


def _count_cache_hit(event: str, **_) -> None:
    if event == "/jax/compilation_cache/cache_hits":
        _CACHE_HITS[0] += 1


jax.monitoring.register_event_listener(_count_cache_hit)


def _program(
    group: list[_Member], train_size: int, clock: _Clock, fixed: FixedShapes | None = None
) -> _Program:
    """The program for `group`, compiled (on first use) only if no earlier call's fits it."""
    models = [member.model for member in group]
    hidden = [layer for model in models for layer in _hidden_layers(model)]
    activations = {layer.activation for layer in hidden}
    # A step never holds more rows than the training set: a bucket past it would pad for nothing.
    batch = _batch_bucket(max(member.train_config.batch_size for member in group), fixed)
    batch = min(batch, train_size)
    least = FixedShapes() if fixed is None else fixed
    if fixed is not None and hidden:
        activations |= {keras.activations.get(name) for name in ACTIVATIONS}
    spec = _Spec(
        hidden_layers=len(_hidden_layers(models[0])),
        width=_bucket(max(least.width, *(layer.units for layer in hidden))) if hidden else 0,
        batch_size=batch,
        members=_bucket(max(len(group), min(least.members, _capacity(batch)))),
        optimizer=mirror.optimizer_settings(models[0]),
        activations=tuple(sorted(activations, key=_name)),
        dropout=(fixed is not None and bool(hidden))
        or any(rate > 0 for model in models for rate in mirror.dropout_rates(model)),
        train_size=train_size,
    )
    if spec not in _PROGRAMS:
        _PROGRAMS[spec] = _Program(spec, models[0])
    _PROGRAMS.move_to_end(spec)
    while len(_PROGRAMS) > PROGRAM_CACHE_SIZE:
        _PROGRAMS.popitem(last=False)
    clock.programs.add(spec)
    return _PROGRAMS[spec]


def _name(function) -> str:
    return function.__name__


class _Program:
    """A population's epoch, compiled for one `_Spec`, and the network it runs.

    The network is `build_model`'s at the spec's width, with linear hidden activations
    (each member's own is applied after its layer) and no dropout or regularizer (each
    member's rate and strengths are applied here as data); its layers are called through
    `stateless_call`, and the member's optimizer through `stateless_apply`.
    """

    def __init__(self, spec: _Spec, example: keras.Model):
        self.spec = spec
        config = ModelConfig(
            hidden_units=spec.width,
            hidden_layers=max(1, spec.hidden_layers),
            activation="linear",
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

    def call(self, clock: _Clock, name: str, *args):
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

    def settings(self, group: list[_Member]) -> dict:
        """The members' hyperparameters as arrays, one row per place (padding copies the first)."""
        padded = group + group[:1] * (self.spec.members - len(group))
        configs = [member.train_config for member in padded]
        models = [member.model for member in padded]
        shape = (len(models), self.spec.hidden_layers)
        activations = [
            [self.spec.activations.index(layer.activation) for layer in _hidden_layers(model)]
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

    def start(self, group: list[_Member]) -> tuple[list, list]:
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

        The set comes padded to whole chunks, its padding labelled -1 (see `_split`).
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


def _split(dataset: Dataset, split: str) -> tuple[jax.Array, jax.Array]:
    """A split's images and labels on the device, padded to whole evaluation chunks.

    Padded rows are labelled -1: the measures leave them out, and training never draws them.
    """
    splits = _DEVICE.setdefault(dataset, {})
    if split not in splits:
        images = getattr(dataset, f"x_{split}")
        labels = getattr(dataset, f"y_{split}")
        padding = -len(labels) % EVALUATION_CHUNK
        images = np.pad(images, [(0, padding), (0, 0), (0, 0)])
        labels = np.pad(labels.astype(np.int32), (0, padding), constant_values=-1)
        splits[split] = (jnp.asarray(images, jnp.float32), jnp.asarray(labels))
    return splits[split]


def _train_group(program, group, dataset, on_epoch, clock, *, test: bool) -> None:
    """Trains one population to the end and sets each member's result."""
    settings = jax.device_put(program.settings(group))
    params, slots = program.start(group)
    best = params
    data = (*_split(dataset, "train"), *_split(dataset, "validation"))
    places = program.spec.members - len(group)
    for epoch in range(max(member.train_config.epochs for member in group)):
        alive = np.array([member.trains(epoch) for member in group] + [False] * places)
        if not alive.any():
            break
        steps = max(
            math.ceil(program.spec.train_size / member.train_config.batch_size)
            for member, trains in zip(group, alive, strict=False)
            if trains
        )
        arguments = (params, slots, settings, alive, np.int32(epoch), np.int32(steps), *data)
        params, slots, measures = program.call(clock, "epoch", *arguments)
        improved = np.zeros(program.spec.members, bool)
        for place in np.flatnonzero(alive):
            logs = {key: float(values[place]) for key, values in measures.items()}
            logs["seconds"] = clock.last_seconds / alive.sum()
            improved[place] = _end_epoch(group[place], epoch, logs, on_epoch)
        best = program.call(clock, "select", best, params, improved)
    test_measures = None
    if test:
        test_measures = program.call(clock, "measure", best, settings, *_split(dataset, "test"))
    _finish(group, best, test_measures)


def _end_epoch(member: _Member, epoch: int, logs: dict[str, float], on_epoch) -> bool:
    """Records a member's epoch and asks `on_epoch` about it; whether it is the best so far."""
    improved = member.record.add(epoch, logs)
    del logs["seconds"]
    member.stopped = member.record.finished(epoch)
    if on_epoch is not None:
        try:
            member.stopped |= bool(on_epoch(member.index, epoch, logs))
        except Exception as error:  # It ends this member alone; its caller decides.
            member.error, member.stopped = error, True
    return improved


def _finish(group: list[_Member], best, test_measures) -> None:
    """Loads each member's best weights into its model and sets its result."""
    best = jax.device_get(best)
    if test_measures is not None:
        test_measures = jax.device_get(test_measures)
    for place, member in enumerate(group):
        result = member.record.result(member.model)
        if member.record.best_epoch:
            for variable, stacked in zip(member.model.trainable_variables, best, strict=True):
                variable.assign(stacked[place][tuple(slice(0, size) for size in variable.shape)])
            if test_measures is not None:
                loss, accuracy = (float(values[place]) for values in test_measures)
                result = dataclasses.replace(result, test_loss=loss, test_accuracy=accuracy)
        member.result = result
