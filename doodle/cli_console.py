"""What every `doodle` command prints, and its one way out: a DoodleError is one line and exit
code 2, a stop signal a line and exit 128 + its number. Shared by doodle/cli.py and the commands
kept in modules of their own (doodle/cli_video.py)."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from .errors import DoodleError
from .interrupts import Interrupted, exit_code, signal_of, stop_signals_raise

console = Console(stderr=True)
EXIT_BAD_INPUT = 2
Command = TypeVar("Command", bound=Callable[..., Any])
UNPRINTABLE = ("Cc", "Cf", "Zl", "Zp", "Cs")  # Unicode categories that `printable` shows escaped


def handles_errors(interrupted: str = "interrupted; nothing written") -> Callable[[Command], Command]:
    """Every command's one way out: a DoodleError is one line and exit 2; a stop signal (Ctrl-C,
    and SIGTERM and SIGHUP, which raise like it while a command runs) a line and exit 128 + its
    number (130, 143, 129)."""
    def decorate(command: Command) -> Command:
        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                with stop_signals_raise():
                    return command(*args, **kwargs)
            except DoodleError as error:
                fail(str(error))
            except Interrupted as stop:
                say("", str(stop))
                raise typer.Exit(exit_code(stop.signum)) from None
            except KeyboardInterrupt as stop:
                say("", interrupted)
                raise typer.Exit(exit_code(signal_of(stop))) from None
        return run  # type: ignore[return-value]
    return decorate


def printable(text: str) -> str:
    """`text` as one line of plain text, each control character (C0, DEL, C1, bidi overrides, line
    separators, the lone surrogates of undecodable file names) shown as its escape ('\\x1b', '\\n'):
    a hostile file name can neither drive the terminal nor forge a line of output."""
    return "".join(ascii(char)[1:-1] if unicodedata.category(char) in UNPRINTABLE else char for char in text)


def say(label: str, text: str) -> None:
    """The one way a message reaches the console: `label` is markup, `text` is shown as it is."""
    console.print(f"{label}{escape(printable(text))}", highlight=False, soft_wrap=True)


def fail(message: str) -> None:
    say("[bold red]error:[/] ", message)
    raise typer.Exit(EXIT_BAD_INPUT)


def note(text: str) -> None:
    say("[yellow]note:[/] ", text)


def show_notes(request) -> None:
    """The notes a request made while it was resolved."""
    for text in request.notes:
        note(text)


def short_name(loss: str) -> str:
    """'style:relu3_1' -> 'relu3_1', 'gram:relu3_1' -> 'gram3_1', 'content:relu4_2' -> 'content',
    'smoothness' -> 'tv'."""
    kind, _, layer = loss.partition(":")
    return {"style": layer, "gram": layer.replace("relu", "gram"), "content": "content",
            "smoothness": "tv"}.get(kind, loss)
