"""kerasnn: fixed-shape fully connected networks for MNIST and Fashion-MNIST, measured honestly."""

import importlib

# Where each public name lives. They are imported on first use, so that `import kerasnn.data`
# or a command-line parser does not pay for importing TensorFlow.
_PUBLIC = {
    "DataError": "kerasnn.data",
    "Dataset": "kerasnn.data",
    "load_dataset": "kerasnn.data",
    "ModelConfig": "kerasnn.config",
    "TrainConfig": "kerasnn.config",
    "build_model": "kerasnn.models",
    "DivergedError": "kerasnn.scoring",
    "pareto": "kerasnn.scoring",
    "penalized": "kerasnn.scoring",
    "score": "kerasnn.scoring",
    "FixedShapes": "kerasnn.population",
    "PopulationResult": "kerasnn.population",
    "train_population": "kerasnn.population",
    "TrainResult": "kerasnn.training",
    "train": "kerasnn.training",
}

__all__ = sorted(_PUBLIC)
__version__ = "0.1.0"


# The modules that import Keras: it is imported first, quietly (see kerasnn.quiet). The
# others (data, configs, scores) stay light, so that a command-line parser does not load it.
_WITH_KERAS = ("kerasnn.models", "kerasnn.population", "kerasnn.training")


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'kerasnn' has no attribute {name!r}")
    if _PUBLIC[name] in _WITH_KERAS:
        from kerasnn.quiet import import_keras

        import_keras()
    return getattr(importlib.import_module(_PUBLIC[name]), name)


def __dir__():
    return __all__
