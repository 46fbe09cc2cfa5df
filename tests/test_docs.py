"""The docs must stay true: the options reference is the CLI's own, and every link leads somewhere.

README.md is the short guide; docs/*.md hold the rest, and docs/options.md is generated from the
CLI by `python -m doodle.options_doc`.
"""

import enum
import re
from dataclasses import fields
from pathlib import Path
from typing import Optional

import pytest
import typer

from doodle.cli import app
from doodle.config import PaintConfig, help_of, presets
from doodle.options_doc import GENERATOR_COMMAND, render

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
OPTIONS = DOCS / "options.md"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
README_LIMIT_BYTES = 12_800  # about 12.5 KB: the README is the short guide; the long story lives in docs/


def command_sections(text: str) -> dict[str, str]:
    """{'doodle paint': its section of docs/options.md, ...}, by the `## `doodle ...`` headings."""
    parts = re.split(r"^## `([^`]+)`\s*$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def all_commands():
    """(section name, click command) for the group and each command, as the CLI has them now."""
    group = typer.main.get_command(app)
    return [("doodle", group)] + [(f"doodle {name}", command) for name, command in group.commands.items()]


def test_options_doc_is_generated_from_the_cli():
    committed = OPTIONS.read_text() if OPTIONS.exists() else ""
    assert committed == render(), f"docs/options.md is out of date: run {GENERATOR_COMMAND} and commit the result"


def test_every_flag_of_every_command_is_in_the_options_doc():
    sections = command_sections(OPTIONS.read_text())
    for name, command in all_commands():
        assert name in sections, f"docs/options.md has no section for {name}"
        flags = {flag for param in command.params for flag in [*param.opts, *getattr(param, "secondary_opts", [])]
                 if flag.startswith("-")}
        missing = {flag for flag in flags if f"`{flag}" not in sections[name] and f" / {flag}" not in sections[name]}
        assert not missing, f"docs/options.md's {name} section lacks {sorted(missing)}"
    paint = typer.main.get_command(app).commands["paint"]
    assert {"--style", "--matcher", "--output", "-o"} <= {flag for p in paint.params for flag in p.opts}


def test_documented_defaults_and_choices_are_paint_configs():
    rows = {}
    for line in command_sections(OPTIONS.read_text())["doodle paint"].splitlines():
        match = re.match(r"\|\s*`(--[a-z-]+)", line)
        if match:
            rows[match.group(1)] = line
    for spec in fields(PaintConfig):
        flag = "--" + spec.name.replace("_", "-")
        default = ",".join(map(str, spec.default)) if isinstance(spec.default, tuple) else str(spec.default)
        assert f"| `{default or 'none'}` |" in rows[flag], f"{flag}: docs/options.md should show default {default!r}"
        for choice in spec.metadata.get("choices", ()):
            assert f"`{choice}`" in rows[flag], f"{flag}: docs/options.md should list {choice!r}"


class Flavour(str, enum.Enum):
    sweet = "sweet"
    sour = "sour"


def test_the_generator_documents_group_options_arguments_and_new_commands():
    """The CLI will change (a thinner cli.py, new commands): the generator reads whatever is there."""
    toy = typer.Typer()

    @toy.callback()
    def main(verbose: bool = typer.Option(False, "--verbose", help="Say more.")) -> None:
        """A toy tool."""

    @toy.command()
    def brew(cups: list[Path] = typer.Argument(..., help="Cups to fill."),
             flavour: Flavour = typer.Option(Flavour.sweet, help="How it tastes."),
             phases: int = typer.Option(3, help="Not the help shown."),
             note: Optional[str] = typer.Option(None, "--note", "-n", help="A | bar.")) -> None:
        """Brew | tea."""

    @toy.command()
    def rest() -> None:
        """Do nothing."""

    text = render(toy)
    assert text == render(toy)  # deterministic
    sections = command_sections(text)
    assert list(sections) == ["doodle", "doodle brew", "doodle rest"]
    assert "`--verbose` | off |" in sections["doodle"]
    assert "`CUPS ...` (argument) | required |" in sections["doodle brew"]
    assert "`sweet`, `sour`" in sections["doodle brew"]  # choices the CLI enforces itself
    # An option named like a PaintConfig field takes the field's bounds and help from its metadata.
    assert f"| `3` | between 1 and 16 | {help_of('phases')} |" in sections["doodle brew"]
    assert "`--note TEXT`, `-n` | - |  | A \\| bar. |" in sections["doodle brew"]  # bars cannot break the table
    assert "takes no options" in sections["doodle rest"]


def test_the_generator_check_mode_says_how_to_fix(tmp_path, capsys):
    from doodle.options_doc import main

    stale = tmp_path / "options.md"
    stale.write_text("old\n")
    assert main([str(stale), "--check"]) == 1
    assert GENERATOR_COMMAND in capsys.readouterr().err
    assert main([str(stale)]) == 0 and main([str(stale), "--check"]) == 0
    assert stale.read_text() == render()


def test_readme_is_the_short_guide():
    size = len(README.read_bytes())
    assert size <= README_LIMIT_BYTES, f"README.md is {size} bytes; move detail into docs/ (limit {README_LIMIT_BYTES})"


def test_readme_gives_the_commands():
    blocks = "\n".join(re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S))
    assert "make test" in blocks and "make demo" in blocks


def test_every_guide_is_linked_from_the_readme():
    linked = {target for _, target, _ in links(README)}
    for page in sorted(DOCS.glob("*.md")):
        if page.name != "README.md":
            assert f"docs/{page.name}" in linked, f"README.md links nowhere to docs/{page.name}"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for heading in re.findall(r"^#{1,6} (.+)$", text, flags=re.M):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[tuple[Path, str, str]]:
    """(page, target, anchor) of every relative link and image in a Markdown page."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    text = re.sub(r"`[^`]*`", "", text)  # code spans (which may wrap lines) can hold brackets that are not links
    found = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):  # https:, mailto: ... are not files here
            continue
        path, _, anchor = target.partition("#")
        found.append((page, path, anchor))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_leads_to_a_file_and_heading(page):
    for source, target, anchor in links(page):
        destination = (source.parent / target).resolve() if target else source
        assert destination.exists(), f"{source.relative_to(ROOT)}: link to {target} leads nowhere"
        if anchor and destination.suffix == ".md":
            assert anchor in anchors(destination), \
                f"{source.relative_to(ROOT)}: {target}#{anchor} names no heading of {destination.name}"


def test_presets_table_names_every_preset():
    tables = [page for page in PAGES if "| preset | for | what it sets |" in page.read_text()]
    assert len(tables) == 1, f"expected one presets table, found it in {[p.name for p in tables]}"
    text = tables[0].read_text()
    for name in presets():
        assert f"| `{name}` |" in text, f"the presets table in {tables[0].name} lacks {name}"
