"""Which data a study ran on: recorded when the study is created, checked when it continues.

The record is `Dataset.identity()` (name, source, shapes, classes, where the test split came
from and the sha256 fingerprint of the arrays as trained on), kept as the study's user
attribute "data". A study continued with other arrays would mix trials that do not compare,
so that is refused before anything is written. Studies stored before the record existed
carry none and are continued as before.
"""

from __future__ import annotations

from studies.errors import UsageError

ATTRIBUTE = "data"
SHOWN_DIGITS = 12  # Of the fingerprint, in one-line messages; the reports show it whole.


def check(stored, settings, dataset) -> None:
    """Refuses to continue `stored` (a study summary, or None) with other data than it
    recorded; --fresh starts it anew, so anything goes."""
    if stored is None or settings.fresh:
        return
    recorded = stored.user_attrs.get(ATTRIBUTE)
    if recorded is None or recorded["fingerprint"] == dataset.fingerprint:
        return
    raise UsageError(
        f"study {settings.study_name!r} ran on {recorded['name']} ({recorded['source']}, "
        f"sha256 {recorded['fingerprint'][:SHOWN_DIGITS]}); the data given now "
        f"({dataset.source}, sha256 {dataset.fingerprint[:SHOWN_DIGITS]}) differs: continue "
        "it with its own data, or give --study-name for a new study"
    )


def record(study, dataset) -> None:
    """Keeps the data's identity on `study` when it has none yet."""
    if ATTRIBUTE not in study.user_attrs:
        study.set_user_attr(ATTRIBUTE, dataset.identity())


def identity(user_attrs: dict) -> dict | None:
    """The recorded identity of a study's data (its user attributes), or None."""
    return user_attrs.get(ATTRIBUTE)


def describe(recorded: dict | None, dataset: str) -> str:
    """The data in one line of markdown, for summary.md and REPRODUCTION.md: `dataset` (the
    setting) alone where the study recorded nothing (one stored before the record)."""
    if recorded is None:
        return str(dataset)
    shapes = recorded["shapes"]
    counts = " / ".join(f"{shapes[split][0]:,}" for split in ("train", "validation", "test"))
    example = "x".join(map(str, shapes["train"][1:]))
    carved = "" if recorded["test_split"] == "given" else f"; test split {recorded['test_split']}"
    return (
        f"{recorded['name']} ({recorded['source']}): {counts} train / validation / test "
        f"examples of {example}, {recorded['classes']} classes{carved}; "
        f"sha256 `{recorded['fingerprint']}`"
    )
