"""The frozen configurations a run is described by: the network (`ModelConfig`) and its training (`TrainConfig`).

Plain dataclasses that check themselves, importable without TensorFlow.
"""

from __future__ import annotations

import dataclasses
import math

from kerasnn.precision import check_precision

ACTIVATIONS = ("relu", "sigmoid", "tanh", "elu", "selu", "gelu", "softplus", "linear")
OPTIMIZERS = ("adam", "sgd", "rmsprop")
PLACEMENTS = ("hidden", "output", "both")

# Caps on every count and size, so that an absurd value is refused here, in one line,
# rather than failing deep inside TensorFlow (or filling the memory) once training starts.
MAX_HIDDEN_UNITS = 4096  # Eight times the widest layer any study searches (512).
MAX_HIDDEN_LAYERS = 8
# 100 MB of float32 weights; training holds about four times that (gradients, Adam's slots).
MAX_PARAMETERS = 25_000_000
MAX_EPOCHS = 1000
MAX_BATCH_SIZE = 60_000  # The largest training set (MNIST's and Fashion-MNIST's).
MAX_SEED = 2**32 - 1  # NumPy's seeds, which keras.utils.set_random_seed passes on, end here.
# Far above any rate that trains (a rate of 1e3 already blows SGD up in one epoch), so a run
# may be made to diverge on purpose; low enough that the rate itself is a finite float32
# (whose largest value is about 3.4e38), instead of failing inside Keras.
MAX_LEARNING_RATE = 1e30
IMAGE_PIXELS = 28 * 28  # One MNIST or Fashion-MNIST image, the default example.
CLASSES = 10
# Bounds on the data's side of the network: one example's values and the classes. A run
# counts as diverged above 3 ln(10) of training cross-entropy (kerasnn.training), which stays
# well above chance level, ln(classes), only up to about a hundred classes.
MAX_INPUTS = 1_000_000
MAX_CLASSES = 100


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything `build_model` needs; the defaults are the TensorFlow tutorial's network."""

    hidden_units: int = 128  # Width of each hidden Dense layer; 0 means softmax regression.
    hidden_layers: int = 1  # Number of hidden Dense(+Dropout) blocks (ignored when width is 0).
    activation: str = "relu"  # Activation of the hidden layers.
    dropout_rate: float = 0.0  # Fraction of hidden activations dropped while training.
    l1: float = 0.0  # L1 strength: adds l1 * sum(|W|) to the loss.
    l2: float = 0.0  # L2 strength: adds l2 * sum(W**2) to the loss (no factor 1/2).
    regularize: str = "hidden"  # Which kernels get L1/L2: "hidden", "output" or "both".
    optimizer: str = "adam"  # "adam", "sgd" or "rmsprop".
    learning_rate: float = 1e-3
    momentum: float = 0.0  # Used by "sgd" and "rmsprop" only.
    # What the data fixes (`fitted_to` sets them from a dataset): one example's shape and
    # the number of classes. The defaults are MNIST's and Fashion-MNIST's.
    input_shape: tuple[int, ...] = (28, 28)
    classes: int = CLASSES

    def __post_init__(self):
        # A stored configuration comes back from JSON with the shape as a list.
        object.__setattr__(self, "input_shape", _check_shape(self.input_shape))
        _check_int("classes", self.classes, 2, MAX_CLASSES)
        _check_int("hidden_units", self.hidden_units, 0, MAX_HIDDEN_UNITS)
        _check_int("hidden_layers", self.hidden_layers, 1, MAX_HIDDEN_LAYERS)
        if self.parameters() > MAX_PARAMETERS:
            raise ValueError(
                f"{self.hidden_layers} hidden layers of {self.hidden_units} units make "
                f"{self.parameters():,} parameters; at most {MAX_PARAMETERS:,} are allowed"
            )
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("regularize", self.regularize, PLACEMENTS)
        if not (_is_number(self.dropout_rate) and 0.0 <= self.dropout_rate < 1.0):
            raise ValueError(f"dropout_rate must lie in [0, 1), got {self.dropout_rate!r}")
        for name in ("l1", "l2"):
            value = getattr(self, name)
            if not (_is_number(value) and math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        # Keras' SGD and RMSprop take a momentum in [0, 1]; 1 never forgets, so it is left out.
        if not (_is_number(self.momentum) and 0.0 <= self.momentum < 1.0):
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum!r}")
        rate = self.learning_rate
        if not (_is_number(rate) and 0.0 < rate <= MAX_LEARNING_RATE):
            raise ValueError(
                f"learning_rate must be a finite number > 0 and at most {MAX_LEARNING_RATE:g}, "
                f"got {rate!r}"
            )

    def parameters(self) -> int:
        """The network's weights and biases, as Keras' `count_params` counts them."""
        inputs = math.prod(self.input_shape)
        if self.hidden_units == 0:
            return (inputs + 1) * self.classes
        units = self.hidden_units
        first, between = (inputs + 1) * units, (units + 1) * units
        return first + (self.hidden_layers - 1) * between + (units + 1) * self.classes

    def fitted_to(self, dataset) -> ModelConfig:
        """This configuration with the example shape and classes of `dataset` (a
        `kerasnn.data.Dataset`): the network follows the data it is trained on."""
        shape, classes = tuple(dataset.example_shape), dataset.classes
        if (shape, classes) == (self.input_shape, self.classes):
            return self
        return dataclasses.replace(self, input_shape=shape, classes=classes)


def _check_shape(shape) -> tuple[int, ...]:
    """`shape` as a tuple of positive whole numbers holding at most MAX_INPUTS values."""
    if not isinstance(shape, tuple | list) or not shape:
        raise ValueError(f"input_shape must be a non-empty tuple of sizes, got {shape!r:.80}")
    for size in shape:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"input_shape must hold sizes >= 1, got {shape!r:.80}")
    if math.prod(shape) > MAX_INPUTS:
        raise ValueError(
            f"input_shape {tuple(shape)} holds {math.prod(shape):,} values per example; "
            f"at most {MAX_INPUTS:,} are allowed"
        )
    return tuple(shape)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_int(name, value, minimum, maximum):
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValueError(
            f"{name} must be an integer >= {minimum} and at most {maximum}, got {value!r}"
        )


def _check_choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 32
    epochs: int = 10
    shuffle: bool = True  # Reshuffle the training set before every epoch.
    early_stopping_patience: int | None = None  # Epochs without a better val accuracy.
    seed: int = 0  # Seeds weights, dropout masks and shuffling.
    # "float32", or "bfloat16": the hidden layers' products in bfloat16, weights, optimizer
    # state, the output layer and the loss in float32 (Keras' mixed_bfloat16 policy; see
    # kerasnn.precision). It pays only on a CPU with native bfloat16 (benchmarks/precision.py).
    precision: str = "float32"

    def __post_init__(self):
        check_precision(self.precision)
        _check_int("batch_size", self.batch_size, 1, MAX_BATCH_SIZE)
        _check_int("epochs", self.epochs, 1, MAX_EPOCHS)
        if self.early_stopping_patience is not None:
            _check_int("early_stopping_patience", self.early_stopping_patience, 1, MAX_EPOCHS)
        _check_int("seed", self.seed, 0, MAX_SEED)
        if not isinstance(self.shuffle, bool):
            raise ValueError(f"shuffle must be True or False, got {self.shuffle!r}")
