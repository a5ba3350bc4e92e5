"""The answer where people meet it last: the terminal's closing lines and a notebook's display.

Both are summary.md's opening (`summary.opening_lines`), rendered: as plain text for a
terminal, as markdown for a notebook. Nothing here words or formats a number of its own.
"""

from __future__ import annotations

import re
from pathlib import Path

from studies.report import summary

NO_ANSWER = "No confirmed answer: summary.md says why and has the best search trial (one seed)."


def confirmed_answer(study, storage) -> tuple[bool, object]:
    """Whether `study` has a confirmation stage, and its answer as the report words it
    (`engine.confirm.Answer`; None without one or without a complete run)."""
    from studies.engine import confirm

    confirmation = confirm.load_confirmation(storage, study.study_name)
    if confirmation is None:
        return False, None
    return True, confirm.answer(study, confirmation)


def plain(lines: list[str]) -> list[str]:
    """Markdown lines as a terminal shows them: without heading marks and code quotes."""
    return [re.sub(r"^#+ ", "", line).replace("`", "") for line in lines]


def closing_lines(answer, folder: Path, confirming: bool = True) -> list[str]:
    """The last lines of a run: the answer as summary.md opens with it (a line saying there
    is none where a confirmation stage ran without one), then where the summary and the
    winner's network are."""
    if answer is not None:
        lines = [*plain(summary.opening_lines(answer)), ""]
    else:
        lines = [NO_ANSWER, ""] if confirming else []
    lines.append(f"summary: {folder / 'summary.md'}")
    if (folder / "winner.keras").is_file():
        lines.append(f"model:   {folder / 'winner.keras'}")
    return lines


def say_answer(study, storage, folder: Path) -> None:
    """Prints the closing lines of `study`'s run, its report written into `folder`."""
    confirming, answer = confirmed_answer(study, storage)
    print("\n" + "\n".join(closing_lines(answer, folder, confirming)), flush=True)


def markdown(answer) -> str:
    """The answer as a notebook shows it: summary.md's opening and the table of every
    confirmed configuration."""
    lines = summary.opening_lines(answer)
    return "\n".join([*lines, "", summary.configurations_table(answer), ""])
