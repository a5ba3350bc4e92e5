"""Settings written back out as command-line arguments: for worker processes and the report."""

from __future__ import annotations

import dataclasses
import shlex

from studies.settings import Settings, default_study_name, option, study_defaults
from studies.storage.url import redact

# Settings that have no command-line option: the positional study, and a study default.
WITHOUT_OPTION = ("study", "scale")
# Settings always written out: left out, --precision is auto, which depends on the machine.
ALWAYS_WRITTEN = ("precision",)


def arguments(settings: Settings, module, **changes) -> list[str]:
    """The command-line arguments that give `settings` (with `changes`), defaults left out.

    Worker processes are started with these, never with an edited copy of the caller's
    argv, so an abbreviated or repeated option cannot slip past.
    """
    settings = dataclasses.replace(settings, **changes)
    defaults = study_defaults(module)
    defaults = dataclasses.replace(
        defaults, study=settings.study, study_name=default_study_name(settings, defaults)
    )
    words = [settings.study]
    for key in (f.name for f in dataclasses.fields(Settings) if f.name not in WITHOUT_OPTION):
        value = getattr(settings, key)
        if key in ALWAYS_WRITTEN or value != getattr(defaults, key):
            words += option_words(key, value)
    return words


def option_words(key: str, value) -> list[str]:
    """The words that set `key` to `value`: none for None or False, the flag for True."""
    if value is None or value is False:
        return []
    if value is True:
        return [option(key)]
    text = _text(value)
    # A value that starts with '-' would be read as an option of its own.
    return [f"{option(key)}={text}"] if text.startswith("-") else [option(key), text]


def _text(value) -> str:
    """`value` as written on a command line: floats as short as they stay exact."""
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)


def command(settings: Settings, module) -> str:
    """The command that gives `settings`, safe to store and print (passwords as ***)."""
    words = arguments(
        settings, module, fresh=False, report_only=False, no_report=False, no_progress=False
    )
    return shlex.join(["python", "-m", "studies.run", *map(redact, words)])
