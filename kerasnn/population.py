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
from collections.abc import Callable, Sequence

import jax
import keras
import numpy as np

from kerasnn import mirror, quiet
from kerasnn.config import ACTIVATIONS, ModelConfig, TrainConfig
from kerasnn.data import Dataset
from kerasnn.models import build_model
from kerasnn.population_program import (
    Clock,
    Program,
    Spec,
    activation_name,
    device_split,
    hidden_layers,
)
from kerasnn.training import EpochRecord, TrainResult, clamp_batch_size

# Most members one program trains; more are split into populations of this size, which
# reuse one program.
MAX_MEMBERS = 64
# Most image rows one step gathers over all members: bounds a step's memory (about 400 MB of
# images at 2**17 rows), so populations of large batches hold fewer members.
MAX_ROWS_PER_STEP = 2**17
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

    Each network takes its example shape and classes from `dataset` (`ModelConfig.fitted_to`).

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
    _check_arguments(runs, dataset, on_epoch, fixed_shapes)
    train_size = len(dataset.y_train)
    members = [
        _member(index, model_config.fitted_to(dataset), train_config, train_size)
        for index, (model_config, train_config) in enumerate(runs)
    ]
    clock = Clock()
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


def _check_arguments(runs, dataset, on_epoch, fixed_shapes) -> None:
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
    quiet.set_random_seed(train_config.seed)
    model = build_model(model_config)
    reason = mirror.cannot_mirror(model)
    if reason:
        raise ValueError(
            f"run {index}: the population cannot mirror its model ({reason}); "
            "train it with kerasnn.train (see cannot_train)"
        )
    train_config = clamp_batch_size(train_config, train_size)
    return _Member(index, train_config, model, EpochRecord(train_config.early_stopping_patience))


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


_PROGRAMS: collections.OrderedDict[Spec, Program] = collections.OrderedDict()


def _program(
    group: list[_Member], train_size: int, clock: Clock, fixed: FixedShapes | None = None
) -> Program:
    """The program for `group`, compiled (on first use) only if no earlier call's fits it."""
    models = [member.model for member in group]
    hidden = [layer for model in models for layer in hidden_layers(model)]
    activations = {layer.activation for layer in hidden}
    # A step never holds more rows than the training set: a bucket past it would pad for nothing.
    batch = _batch_bucket(max(member.train_config.batch_size for member in group), fixed)
    batch = min(batch, train_size)
    least = FixedShapes() if fixed is None else fixed
    if fixed is not None and hidden:
        activations |= {keras.activations.get(name) for name in ACTIVATIONS}
    spec = Spec(
        hidden_layers=len(hidden_layers(models[0])),
        width=_bucket(max(least.width, *(layer.units for layer in hidden))) if hidden else 0,
        batch_size=batch,
        members=_bucket(max(len(group), min(least.members, _capacity(batch)))),
        optimizer=mirror.optimizer_settings(models[0]),
        activations=tuple(sorted(activations, key=activation_name)),
        dropout=(fixed is not None and bool(hidden))
        or any(rate > 0 for model in models for rate in mirror.dropout_rates(model)),
        train_size=train_size,
        input_shape=tuple(models[0].inputs[0].shape[1:]),
        classes=mirror.dense_layers(models[0])[-1].units,
    )
    if spec not in _PROGRAMS:
        _PROGRAMS[spec] = Program(spec, models[0])
    _PROGRAMS.move_to_end(spec)
    while len(_PROGRAMS) > PROGRAM_CACHE_SIZE:
        _PROGRAMS.popitem(last=False)
    clock.programs.add(spec)
    return _PROGRAMS[spec]


def _train_group(program, group, dataset, on_epoch, clock, *, test: bool) -> None:
    """Trains one population to the end and sets each member's result."""
    settings = jax.device_put(program.settings(group))
    params, slots = program.start(group)
    best = params
    data = (*device_split(dataset, "train"), *device_split(dataset, "validation"))
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
        test_measures = program.call(
            clock, "measure", best, settings, *device_split(dataset, "test")
        )
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
