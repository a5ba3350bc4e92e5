"""The README and docs/: every relative link leads to a file, every `python -m` command named
there is a module (that it answers `--help` is checked in the scenario tier, in a process of
its own: some modules choose their Keras backend when imported)."""

from __future__ import annotations

import importlib.util
import re

from services import ROOT, commands_named, doc_pages

# [text](target) and ![alt](target); an anchor after the file is not checked.
LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links() -> list[tuple[str, str]]:
    """(page, target) of every link in the pages that is not to the web or to an anchor of
    the same page."""
    found = []
    for page in doc_pages():
        for target in LINK.findall(page.read_text()):
            if not target.startswith(("http://", "https://", "mailto:", "#")):
                found.append((page.relative_to(ROOT).as_posix(), target))
    return found


def test_the_readme_is_a_front_door_of_at_most_150_lines():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150


def test_every_relative_link_points_to_a_file_that_exists():
    links = relative_links()
    assert len(links) > len(doc_pages())  # The pages link to each other and to the reports.
    missing = [
        f"{page}: {target}"
        for page, target in links
        if not (ROOT / page).parent.joinpath(target.split("#")[0]).resolve().exists()
    ]
    assert missing == []


def test_every_python_m_command_named_is_an_installed_module():
    named = commands_named()
    assert {"studies.run", "benchmarks.study", "pytest"} <= set(named)
    assert [name for name in named if importlib.util.find_spec(name) is None] == []
