"""The painting settings as command-line options, declared once for every command that paints.

Every PaintConfig field is an option (`--style-weight`, `--phases`, ...) whose help, default and
allowed values come from the field's metadata (doodle/config.py). `paint_settings` adds them to a
command, so `doodle paint`, `doodle video` and the rest offer the same flags without repeating the
list; the command reads the ones the user typed with `typed_settings`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any, Optional, TypeVar

import typer

from .config import PaintConfig, choices_of, default_of, help_of

Command = TypeVar("Command", bound=Callable[..., Any])
# Options typed as text: lists of layers or numbers are written comma-separated.
TEXT_TYPES = {"float": float, "int": int, "bool": bool}
MODEL_METAVAR = "[auto|vgg19|vgg16|NAME.doodle]"


def _choices(name: str) -> dict[str, str]:
    """The allowed values as the option's metavar, from PaintConfig's metadata. Shown, not
    enforced by click: the configuration's own check gives the one-line error."""
    choices = choices_of(name)
    return {"metavar": "[" + "|".join(choices) + "]"} if choices else {}


def setting_option(name: str):
    """An option with PaintConfig's default for `name`."""
    default = default_of(name)
    if isinstance(default, tuple):
        default = ",".join(str(item) for item in default)
    return typer.Option(default, help=help_of(name), **_choices(name))


def preset_option(name: str):
    """An option whose default is the preset's value: typed, it overrides the preset."""
    return typer.Option(None, help=f"{help_of(name)} Default: the preset's.", show_default=False, **_choices(name))


def option_type(name: str) -> type:
    field_type = next(field.type for field in fields(PaintConfig) if field.name == name)
    return TEXT_TYPES.get(str(field_type), str)


def paint_settings(names: Sequence[str] | None = None, *, from_preset: bool = False) -> Callable[[Command], Command]:
    """Add the PaintConfig fields `names` (default: all) to a typer command as options, after its
    own. `from_preset`: their defaults are the preset's (None until typed). The command takes them
    as `**settings`; `typed_settings(ctx)` gives those the user typed."""
    chosen = [field.name for field in fields(PaintConfig)] if names is None else list(names)

    def decorate(command: Command) -> Command:
        signature = inspect.signature(command, eval_str=True)
        own = [parameter for parameter in signature.parameters.values()
               if parameter.kind is not inspect.Parameter.VAR_KEYWORD]
        added = []
        for name in chosen:
            annotation = option_type(name)
            if from_preset:
                option, annotation = preset_option(name), Optional[annotation]
            elif name == "model":  # VGG weights, or a trained model file
                option = typer.Option(default_of(name), help=help_of(name), metavar=MODEL_METAVAR)
            else:
                option = setting_option(name)
            added.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option,
                                           annotation=annotation))

        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            return command(*args, **kwargs)

        run.__signature__ = signature.replace(parameters=own + added)  # type: ignore[attr-defined]
        return run  # type: ignore[return-value]
    return decorate


def typed_settings(ctx: typer.Context) -> dict[str, Any]:
    """The PaintConfig fields the user typed on the command line; a preset fills the rest.

    A flag typed at its default value still counts: it overrides the preset."""
    names = {field.name for field in fields(PaintConfig)}
    # By the enum's name: typer vendors click (typer._click) in new releases and uses click in old.
    return {name: value for name, value in ctx.params.items()
            if name in names and ctx.get_parameter_source(name).name != "DEFAULT"}
