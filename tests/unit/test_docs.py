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


# A bullet of the architecture's layers: its indentation and its text.
BULLET = re.compile(r"^( *)- (.*)$")
FOLDER = re.compile(r"^`([\w/]+/)`")
MODULE = re.compile(r"`([\w/]+\.py)`")
# "`original_000.py` ... `original_004.py`": every module between the two.
RANGE = re.compile(r"`(\w+?)(\d+)\.py` \.\.\. `\1(\d+)\.py`")


def architecture_modules() -> set[str]:
    """The module paths (kerasnn/config.py, studies/engine/plans.py, ...) that the layers
    section of docs/architecture.md names: each bullet's `name.py`s, under the folders its
    own and its enclosing bullets open with."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    layers = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    bullets: list[tuple[int, str]] = []
    for line in layers.splitlines():
        found = BULLET.match(line)
        if found:
            bullets.append((len(found.group(1)), found.group(2)))
        elif bullets and line.strip():
            bullets[-1] = (bullets[-1][0], bullets[-1][1] + " " + line.strip())
    named, enclosing = set(), []
    for indent, body in bullets:
        enclosing = [(i, folder) for i, folder in enclosing if i < indent]
        opening = FOLDER.match(body)
        folder = "".join(f for _, f in enclosing) + (opening.group(1) if opening else "")
        if opening:
            enclosing.append((indent, opening.group(1)))
        body = RANGE.sub(
            lambda r: " ".join(
                f"`{r.group(1)}{n:0{len(r.group(2))}d}.py`"
                for n in range(int(r.group(2)), int(r.group(3)) + 1)
            ),
            body,
        )
        named |= {folder + name for name in MODULE.findall(body)}
    return named


def test_the_architecture_names_every_module_and_only_modules_that_exist():
    modules = {
        path.relative_to(ROOT).as_posix()
        for package in ("kerasnn", "studies")
        for path in (ROOT / package).rglob("*.py")
        if path.name != "__init__.py"
    }
    named = {path for path in architecture_modules() if path.startswith(("kerasnn/", "studies/"))}
    named -= {path for path in named if path.endswith("/__init__.py")}
    assert sorted(modules - named) == [], "modules the architecture does not name"
    assert sorted(named - modules) == [], "modules the architecture names that do not exist"
