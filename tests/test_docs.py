"""README.md must stay true: every option of `doodle paint` is in its table with the real default."""

import re
from dataclasses import fields
from pathlib import Path

import typer

from doodle.cli import app
from doodle.config import PaintConfig

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def readme_rows(section: str | None = None) -> dict[str, str]:
    """Option rows of the README's tables; with `section`, only those under that heading."""
    rows = {}
    lines = README.splitlines()
    if section is not None:
        start = next(i for i, line in enumerate(lines) if line.startswith("#") and section in line)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("#")), len(lines))
        lines = lines[start + 1: end]
    for line in lines:
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
        default = ",".join(map(str, field.default)) if isinstance(field.default, tuple) else str(field.default)
        default = default or "none"  # an empty list, e.g. --style-blend
        assert f"`{default}`" in rows[flag], f"{flag}: README should show default `{default}`"


def test_readme_gives_the_commands():
    assert "make test" in README and "make demo" in README


def test_every_segment_option_is_documented():
    command = typer.main.get_command(app).commands["segment"]
    rows = readme_rows("Options of `doodle segment")
    flags = {opt for param in command.params for opt in getattr(param, "opts", []) if opt.startswith("--")}
    assert "--labels" in flags and "--method" in flags
    missing = flags - set(rows)
    assert not missing, f"README's doodle segment table lacks {sorted(missing)}"
    for param in command.params:
        flag = param.opts[0]
        if flag.startswith("--") and isinstance(param.default, str):
            assert f"`{param.default}`" in rows[flag], f"{flag}: README should show default `{param.default}`"


def test_every_texture_option_is_documented():
    command = typer.main.get_command(app).commands["texture"]
    lines = README.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#") and "Options of `doodle texture" in line)
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("#"))
    section = "\n".join(lines[start:end])
    flags = {opt for param in command.params for opt in getattr(param, "opts", []) if opt.startswith("--")}
    assert "--weights" in flags and "--preset" in flags
    missing = {flag for flag in flags if f"`{flag}" not in section}
    assert not missing, f"README's doodle texture table lacks {sorted(missing)}"


def test_presets_table_names_every_preset():
    from doodle.config import presets

    for name in presets():
        assert f"| `{name}` |" in README, f"README's presets table lacks {name}"
