"""Markdown tables and figures: the one writer every report and benchmark uses."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd


def cell(value) -> str:
    """One cell's text: a pipe escaped, a line break as a space, so the table stays whole."""
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def table(header: Sequence[str], rows: Iterable[Sequence], align: Sequence[str] = ()) -> str:
    """A markdown table; `align` gives each column's rule ("---", "---:", ...)."""
    rules = list(align) or ["---"] * len(header)
    lines = [_row(header), "|" + "|".join(rules) + "|"]
    lines += [_row(row) for row in rows]
    return "\n".join(lines)


def _row(cells: Sequence) -> str:
    return "| " + " | ".join(cell(value) for value in cells) + " |"


def frame_table(frame: pd.DataFrame) -> str:
    """A data frame as a markdown table: floats to 4 significant digits, missing as blank."""
    shown = frame.copy()
    for column in shown.columns:
        if shown[column].dtype.kind == "f":
            shown[column] = shown[column].map(
                lambda value: "" if pd.isna(value) else f"{value:.4g}"
            )
    shown = shown.astype(object).where(shown.notna(), "")
    return table(list(shown.columns), shown.values.tolist())


def figure(name: str, caption: str) -> str:
    """A figure of the report's folder, shown where the markdown is read (a code host, an
    editor), with its caption as the text a reader without images gets."""
    return f"![{cell(caption)}]({name})"
