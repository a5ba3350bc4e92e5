"""Enumerated grids: named variants, some repeated over seeds, turned into a trial's configs.

A grid study lists its variants by name, each a dict of overrides of the study's
`ModelConfig` and `TrainConfig`. A variant whose comparisons are closer than run-to-run noise
is repeated over seeds: its grid points are the variant itself (the run's seed) and
"<variant> seed=<k>" for each further seed offset k, trained with `TrainConfig.seed` plus k.
The grid sampler sees one categorical parameter, `PARAMETER`, over all the points.
"""

from __future__ import annotations

import dataclasses

from kerasnn import ModelConfig, TrainConfig

SEED_MARK = " seed="  # Joins a variant's name and a seed offset in a grid point's name.
# The name of the grid's one parameter in the stored studies (older name, kept for them).
PARAMETER = "setting"


def points(variants: dict[str, dict], repeated: dict[str, tuple[int, ...]] | None = None) -> list:
    """The grid points: every variant at seed offset 0, repeated ones at their other offsets.

    Args:
        variants: the named variants.
        repeated: variant name -> the seed offsets it is run at (0 is always included).
    """
    repeated = repeated or {}
    unknown = sorted(set(repeated) - set(variants))
    if unknown:
        raise ValueError(f"repeated variant(s) {', '.join(unknown)} are not in the grid")
    names = []
    for name in variants:
        names.append(name)
        names += [f"{name}{SEED_MARK}{k}" for k in repeated.get(name, ()) if k != 0]
    return names


def split(point: str) -> tuple[str, int]:
    """A grid point's variant name and seed offset: "dropout=0.4 seed=2" -> ("dropout=0.4", 2)."""
    name, mark, offset = point.rpartition(SEED_MARK)
    if mark and offset.isdigit():
        return name, int(offset)
    return point, 0


def configure(
    trial,
    train_config: TrainConfig,
    model_config: ModelConfig,
    variants: dict[str, dict],
    default_epochs: int,
    grid: list[str] | None = None,
    **common,
) -> tuple[ModelConfig, TrainConfig]:
    """Turns one point of an enumerated grid into the configs of a trial.

    The trial suggests `variant` from `grid` (by default one point per variant); that
    variant's overrides (on top of `common`) replace fields of `model_config` and
    `train_config`, and the point's seed offset is added to `train_config.seed`. An `epochs`
    override is scaled by the run's epochs over `default_epochs`, so `--epochs 1` shortens
    every run.
    """
    point = trial.suggest_categorical(PARAMETER, grid or list(variants))
    name, offset = split(point)
    model_config, train_config = apply(
        variants[name], model_config, train_config, default_epochs, **common
    )
    return model_config, dataclasses.replace(train_config, seed=train_config.seed + offset)


def apply(
    overrides: dict,
    model_config: ModelConfig,
    train_config: TrainConfig,
    default_epochs: int,
    **common,
) -> tuple[ModelConfig, TrainConfig]:
    """The configs with `common` and then `overrides` applied (see `configure`)."""
    changes = {**common, **overrides}
    model_fields = {field.name for field in dataclasses.fields(ModelConfig)}
    train_fields = {field.name for field in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(changes) - model_fields - train_fields)
    if unknown:
        raise ValueError(
            f"unknown variant field(s) {', '.join(unknown)}; allowed are the fields of "
            "ModelConfig and TrainConfig"
        )
    if "epochs" in changes:
        changes["epochs"] = max(1, round(changes["epochs"] * train_config.epochs / default_epochs))
    model_changes = {key: value for key, value in changes.items() if key in model_fields}
    train_changes = {key: value for key, value in changes.items() if key in train_fields}
    return (
        dataclasses.replace(model_config, **model_changes),
        dataclasses.replace(train_config, **train_changes),
    )
