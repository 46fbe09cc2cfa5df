"""Write docs/options.md, the reference of every command and option, from the CLI itself.

    python -m doodle.options_doc            # rewrite docs/options.md
    python -m doodle.options_doc --check    # exit 1 when docs/options.md is out of date

The reference is read from the Typer app rather than written by hand, so it cannot drift from what
`doodle --help` shows. Options that are PaintConfig fields take their help, default and allowed
values from PaintConfig's field metadata, the one place they are defined (keeping what the CLI adds
to the help, such as "Default: the preset's."). The output depends on nothing but the code: no
dates, no paths of this machine, commands in the CLI's own order.
"""

from __future__ import annotations

import argparse
import sys
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

from .config import LIST_ITEM_TYPES, PaintConfig, choices_of, default_of, help_of, limits_of

PROGRAM = "doodle"
GENERATOR_COMMAND = "python -m doodle.options_doc"
# Where the reference lives in a source checkout: docs/ beside the package.
DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "options.md"
# Value names shown after a flag, by the option's Python type (click's own names for them).
VALUE_NAMES = {int: "INTEGER", float: "FLOAT", str: "TEXT", Path: "PATH"}
NO_DEFAULT = "-"


def _cell(text: str) -> str:
    """Text made safe for one Markdown table cell: one line, no column breaks, no stray HTML."""
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;")


def _code(text: str) -> str:
    return f"`{text}`"


def _shown(value: Any) -> str:
    """A default as a user types it: lists comma-separated, as the CLI takes them."""
    if isinstance(value, (tuple, list)):
        return ",".join(str(item) for item in value)
    return str(value)


def _annotation(param: Any) -> Any:
    """The Python type behind a parameter, or None. Typer keeps it in `type_descriptor` (recent
    releases, which vendor click); classic click has only `param.type`."""
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    if typing.get_origin(annotation) in (list, tuple):  # list[Path] for a repeatable option
        annotation = typing.get_args(annotation)[0]
    return annotation


def _value_name(param: Any) -> str | None:
    """'PATH', 'INTEGER'...: what follows the flag on a command line; None for on/off flags."""
    if getattr(param, "is_flag", False):
        return None
    if getattr(param, "metavar", None):  # what the CLI itself shows, e.g. [auto|exact|bf16|faiss]
        return str(param.metavar)
    annotation = _annotation(param)
    if annotation in VALUE_NAMES:
        return VALUE_NAMES[annotation]
    click_type = getattr(param, "type", None)
    if click_type is not None and getattr(click_type, "name", None):
        return str(click_type.name).upper()
    return getattr(annotation, "__name__", "VALUE").upper()


def _cli_choices(param: Any) -> tuple[str, ...] | None:
    """Choices the CLI itself enforces (an Enum, a Literal or click.Choice), if any."""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is not None and getattr(descriptor, "is_choice", False):
        return tuple(str(getattr(choice, "value", choice)) for choice in descriptor.choices or ())
    choices = getattr(getattr(param, "type", None), "choices", None)
    return tuple(str(choice) for choice in choices) if choices else None


def _field_name(param: Any) -> str | None:
    known = {spec.name for spec in fields(PaintConfig)}
    return param.name if param.name in known else None


def option_row(param: Any) -> tuple[str, str, str, str]:
    """(option, default, allowed values, help) of one parameter, as Markdown cells."""
    field_name = _field_name(param)
    is_argument = getattr(param, "param_type_name", "option") == "argument"
    if is_argument:
        many = getattr(param, "nargs", 1) == -1
        option = _code(param.name.upper() + (" ..." if many else "")) + " (argument)"
    else:
        flags = [flag for flag in param.opts if flag.startswith("--")] + list(param.secondary_opts or [])
        shorts = [flag for flag in param.opts if not flag.startswith("--")]
        value = _value_name(param)
        option = ", ".join([_code(" / ".join(flags) + (f" {value}" if value else ""))] + [_code(s) for s in shorts])
        option = option.replace("|", "\\|")  # a bar inside backticks still ends a table cell
        if getattr(param, "multiple", False):
            option += ", repeatable"

    help_text = getattr(param, "help", None) or ""
    if field_name is not None and not help_text.startswith(help_of(field_name)):
        # The one text of a setting is PaintConfig's; the CLI may only add to it ("Default: the preset's.").
        help_text = help_of(field_name)

    if getattr(param, "required", False):
        default = "required"
    elif getattr(param, "is_flag", False) and getattr(param, "is_bool_flag", True):
        default = "on" if param.default else "off"
    elif field_name is not None and param.default is not None:
        default = _code(_shown(default_of(field_name)) or "none")  # an empty list: no value
    elif param.default is None or param.default == () or getattr(param, "show_default", True) is False:
        default = NO_DEFAULT
    else:
        default = _code(_shown(param.default))

    choices = (choices_of(field_name) if field_name is not None else None) or _cli_choices(param)
    if choices:
        allowed = ", ".join(_code(choice) for choice in choices)
    elif field_name is not None and limits_of(field_name):
        allowed = limits_of(field_name).removeprefix("must be ").replace("must not be ", "not ")
        if field_name in LIST_ITEM_TYPES:  # bounds of a list bind each of its values
            allowed = "each " + allowed
    else:
        allowed = ""
    return option, default, _cell(allowed), _cell(help_text)


def _table(params: list[Any]) -> list[str]:
    visible = [param for param in params if not getattr(param, "hidden", False)]
    if not visible:
        return ["This command takes no options (other than `--help`)."]
    lines = ["| option | default | allowed values | what it does |", "| --- | --- | --- | --- |"]
    lines += ["| " + " | ".join(option_row(param)) + " |" for param in visible]
    return lines


def _usage(name: str, params: list[Any]) -> str:
    arguments = [param.name.upper() + (" ..." if getattr(param, "nargs", 1) == -1 else "")
                 for param in params if getattr(param, "param_type_name", "") == "argument"]
    has_options = any(getattr(param, "param_type_name", "") == "option" for param in params)
    return " ".join([PROGRAM, name, *(["[OPTIONS]"] if has_options else []), *arguments])


def _summary(command: Any) -> str:
    """The first paragraph of a command's help, on one line."""
    text = (getattr(command, "help", None) or getattr(command, "short_help", None) or "").strip()
    return " ".join(text.split("\n\n")[0].split())


def render(app: Any = None) -> str:
    """The whole options reference as Markdown, from the Typer `app` (default: doodle's CLI)."""
    import typer

    if app is None:
        from .cli import app
    group = typer.main.get_command(app)
    lines = [
        "# Options of every command",
        "",
        f"Generated from the command-line tool by `{GENERATOR_COMMAND}`; do not edit by hand (run the",
        "command after changing an option). Every command also takes `--help`. Settings that are",
        "PaintConfig fields have their text, default and allowed values from `doodle/config.py`; for",
        "what they mean in practice see the [guides](README.md).",
        "",
        f"## `{PROGRAM}`",
        "",
        _summary(group),
        "",
        f"Options that go before the command (`{PROGRAM} [OPTIONS] COMMAND`):",
        "",
        *_table(list(group.params)),
    ]
    for name, command in getattr(group, "commands", {}).items():
        if getattr(command, "hidden", False):
            continue
        params = list(command.params)
        lines += ["", f"## `{PROGRAM} {name}`", "", _summary(command), "", f"    {_usage(name, params)}", "",
                  *_table(params)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=GENERATOR_COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT,
                        help="where to write the reference (default: docs/options.md of this checkout)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when the file is out of date")
    args = parser.parse_args(argv)
    text = render()
    current = args.output.read_text() if args.output.exists() else None
    if args.check:
        if current != text:
            print(f"{args.output} is out of date; run {GENERATOR_COMMAND}", file=sys.stderr)
            return 1
        return 0
    if current != text:  # leave the file (and its modification time) alone when nothing changed
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
