"""Enumerated grids: named settings, some repeated over seeds, turned into a trial's configs.

A grid study lists its settings by name, each a dict of overrides of the study's
`ModelConfig` and `TrainConfig`. A setting whose comparisons are closer than run-to-run noise
is repeated over seeds: its grid points are the setting itself (the run's seed) and
"<setting> seed=<k>" for each further seed offset k, trained with `TrainConfig.seed` plus k.
The grid sampler sees one categorical parameter, `setting`, over all the points.
"""

from __future__ import annotations

import dataclasses

from kerasnn import ModelConfig, TrainConfig

SEED_MARK = " seed="  # Joins a setting's name and a seed offset in a grid point's name.


def points(settings: dict[str, dict], repeated: dict[str, tuple[int, ...]] | None = None) -> list:
    """The grid points: every setting at seed offset 0, repeated ones at their other offsets.

    Args:
        settings: the named settings.
        repeated: setting name -> the seed offsets it is run at (0 is always included).
    """
    repeated = repeated or {}
    unknown = sorted(set(repeated) - set(settings))
    if unknown:
        raise ValueError(f"repeated setting(s) {', '.join(unknown)} are not in the grid")
    names = []
    for name in settings:
        names.append(name)
        names += [f"{name}{SEED_MARK}{k}" for k in repeated.get(name, ()) if k != 0]
    return names


def split(point: str) -> tuple[str, int]:
    """A grid point's setting name and seed offset: "dropout=0.4 seed=2" -> ("dropout=0.4", 2)."""
    name, mark, offset = point.rpartition(SEED_MARK)
    if mark and offset.isdigit():
        return name, int(offset)
    return point, 0


def configure(
    trial,
    train_config: TrainConfig,
    model_config: ModelConfig,
    settings: dict[str, dict],
    default_epochs: int,
    grid: list[str] | None = None,
    **common,
) -> tuple[ModelConfig, TrainConfig]:
    """Turns one point of an enumerated grid into the configs of a trial.

    The trial suggests `setting` from `grid` (by default one point per setting); that
    setting's overrides (on top of `common`) replace fields of `model_config` and
    `train_config`, and the point's seed offset is added to `train_config.seed`. An `epochs`
    override is scaled by the run's epochs over `default_epochs`, so `--epochs 1` shortens
    every run.
    """
    point = trial.suggest_categorical("setting", grid or list(settings))
    name, offset = split(point)
    model_config, train_config = apply(
        settings[name], model_config, train_config, default_epochs, **common
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
            f"unknown setting field(s) {', '.join(unknown)}; allowed are the fields of "
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
