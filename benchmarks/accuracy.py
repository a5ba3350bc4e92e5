"""Accuracy sanity check: the TensorFlow tutorial's network must reach its known test accuracy.

`python -m benchmarks.accuracy` trains 784-128(relu)-10 with Adam, batch 32, 10 epochs on
MNIST and Fashion-MNIST through `kerasnn.train` and writes reports/accuracy.md.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from benchmarks import cli
from kerasnn.config import MAX_SEED
from studies.cli.options import count

# Test accuracy the tutorial configuration must reach on each dataset.
THRESHOLDS = {"fashion_mnist": 0.875, "mnist": 0.975}


def table_row(name: str, threshold: float, seed: int) -> str:
    """Trains the tutorial's network on `name`; its row of the report's table."""
    from kerasnn import ModelConfig, TrainConfig, load_dataset, train

    result = train(
        ModelConfig(), TrainConfig(batch_size=32, epochs=10, seed=seed), load_dataset(name)
    )
    final = {key: values[-1] for key, values in result.history.items()}
    return (
        f"| {name} | {result.test_accuracy:.4f} | {result.best_epoch} | "
        f"{result.val_accuracy:.4f} | {final['val_accuracy']:.4f} | {final['train_accuracy']:.4f} | "
        f"{threshold} | {'yes' if result.test_accuracy >= threshold else 'NO'} |"
    )


def versions() -> str:
    import keras
    import tensorflow as tf

    return (
        f"Python {platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}, "
        f"backend {keras.backend.backend()}"
    )


def measure(args) -> None:
    rows = []
    for name, threshold in THRESHOLDS.items():
        rows.append(table_row(name, threshold, args.seed))
        print(rows[-1], flush=True)
    text = "\n".join(
        [
            "# Accuracy sanity check",
            "",
            "The TensorFlow tutorial's configuration (Flatten -> Dense(128, relu) -> Dense(10, "
            "softmax), Adam 1e-3, batch 32, 10 epochs) trained through `kerasnn.train`, on 50,000 "
            "training images (10,000 are held out for validation, unlike the tutorial). Test "
            "accuracy is evaluated once, with the weights of the epoch with the best validation "
            "accuracy. The Fashion-MNIST test split here is a re-made one of the same 70,000 "
            "images, so its figure is comparable with, not identical to, published ones.",
            "",
            "| dataset | test accuracy | best epoch | val accuracy (best) | val accuracy (epoch 10) "
            "| train accuracy (epoch 10, inference) | required | met |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, {platform.platform()}; "
            f"{versions()}; seed {args.seed}.",
            "",
            "Command: `python -m benchmarks.accuracy"
            + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
            + "`",
            "",
        ]
    )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text)
    print(f"written: {args.output}")


def check(parser, args) -> None:
    cli.within(parser, "--seed", args.seed, 0, MAX_SEED)


def main(argv=None) -> int:
    parser = cli.parser("accuracy", __doc__)
    parser.add_argument("--seed", type=count, default=0, help="seeds the training (0)")
    parser.add_argument("--output", type=Path, default=Path("reports/accuracy.md"))
    return cli.run(parser, argv, check, measure)


if __name__ == "__main__":
    sys.exit(main())
