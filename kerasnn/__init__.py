"""kerasnn: fixed-shape fully connected networks for MNIST and Fashion-MNIST, measured honestly."""

from kerasnn.data import DataError, Dataset, load_dataset
from kerasnn.models import ModelConfig, build_model
from kerasnn.objective import DivergedError, pareto, penalized, score
from kerasnn.training import TrainConfig, TrainResult, train

__all__ = [
    "DataError",
    "Dataset",
    "DivergedError",
    "ModelConfig",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "load_dataset",
    "pareto",
    "penalized",
    "score",
    "train",
]
__version__ = "0.1.0"
