"""Accuracy sanity check: the TensorFlow tutorial's network must reach its known test accuracy.

`python -m benchmarks.accuracy` trains 784-128(relu)-10 with Adam, batch 32, 10 epochs on
MNIST and Fashion-MNIST through `kerasnn.train` and writes reports/accuracy.md.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasnn import ModelConfig, TrainConfig, load_dataset, train  # noqa: E402

# Test accuracy the tutorial configuration must reach on each dataset.
THRESHOLDS = {"fashion_mnist": 0.875, "mnist": 0.975}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.accuracy", description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="reports/accuracy.md")
    args = parser.parse_args(argv)
    rows = []
    for name, threshold in THRESHOLDS.items():
        result = train(
            ModelConfig(), TrainConfig(batch_size=32, epochs=10, seed=args.seed), load_dataset(name)
        )
        final = {key: values[-1] for key, values in result.history.items()}
        rows.append(
            f"| {name} | {result.test_accuracy:.4f} | {result.best_epoch} | "
            f"{result.val_accuracy:.4f} | {final['val_accuracy']:.4f} | {final['train_accuracy']:.4f} | "
            f"{threshold} | {'yes' if result.test_accuracy >= threshold else 'NO'} |"
        )
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
            f"Python {platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}, "
            f"backend {keras.backend.backend()}; seed {args.seed}.",
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
