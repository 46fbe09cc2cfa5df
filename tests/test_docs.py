"""README.md must stay true: every option of `doodle paint` is in its table with the real default."""

import re
from dataclasses import fields
from pathlib import Path

import typer

from doodle.cli import app
from doodle.config import PaintConfig

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def readme_rows() -> dict[str, str]:
    rows = {}
    for line in README.splitlines():
        match = re.match(r"\|\s*`(--[a-z-]+)[^`]*`", line)
        if match:
            rows[match.group(1)] = line
    return rows


def test_every_paint_option_is_documented():
    command = typer.main.get_command(app).commands["paint"]
    flags = {opt for param in command.params for opt in getattr(param, "opts", []) if opt.startswith("--")}
    assert "--style" in flags and "--matcher" in flags
    missing = flags - set(readme_rows())
    assert not missing, f"README lacks {sorted(missing)}"


def test_documented_defaults_are_the_real_ones():
    rows = readme_rows()
    for field in fields(PaintConfig):
        flag = "--" + field.name.replace("_", "-")
        default = ",".join(field.default) if isinstance(field.default, tuple) else str(field.default)
        assert f"`{default}`" in rows[flag], f"{flag}: README should show default `{default}`"


def test_readme_gives_the_commands():
    assert "make test" in README and "make demo" in README


def test_every_segment_option_is_documented():
    command = typer.main.get_command(app).commands["segment"]
    flags = {opt for param in command.params for opt in getattr(param, "opts", []) if opt.startswith("--")}
    assert "--labels" in flags and "--method" in flags
    missing = flags - set(readme_rows())
    assert not missing, f"README lacks {sorted(missing)}"
