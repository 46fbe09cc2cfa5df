"""`doodle studio`: the browser studio (doodle/studio/), served on this machine until Ctrl-C.

Like every command it only parses flags and reports; the studio's rules live in
doodle/studio/session.py. Registered on the app by doodle/cli.py.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Optional

import typer

from .cli_console import handles_errors, say

DEFAULT_PORT = 7860


def default_models() -> Path:
    from .weights import cache_dir

    return cache_dir() / "models"


@handles_errors("studio stopped")
def studio(
    port: int = typer.Option(DEFAULT_PORT, help="The port to serve on."),
    host: str = typer.Option("127.0.0.1", help="The address to listen on. The default lets only this machine in; 0.0.0.0 opens the studio to your network (it has no login)."),
    styles: Optional[Path] = typer.Option(None, help="A folder of paintings with their maps (X.jpg beside X_sem.png) for the gallery. Default: none; upload paintings in the page."),
    models: Optional[Path] = typer.Option(None, help="The folder of trained models (from doodle train) that make live previews; the studio trains new ones into it. Default: models/ in doodle's cache folder."),
) -> None:
    """Draw in the browser and watch the painting follow: a local web studio."""
    from .errors import DoodleError

    if styles is not None and not styles.is_dir():
        raise DoodleError(f"--styles {styles}: no such folder; give a folder of paintings with their maps")
    if models is not None and models.exists() and not models.is_dir():
        raise DoodleError(f"--models {models}: is a file; give a folder for the trained models")
    if not 0 < port < 65536:
        raise DoodleError(f"--port {port}: give a port from 1 to 65535")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # nothing leaves the machine
    try:
        from .studio.app import launch
    except ImportError as error:
        raise DoodleError(f"the studio needs Gradio ({error}); install it with: pip install 'doodle[studio]'") from None
    from .studio.session import Studio, StudioSettings

    server = Studio(StudioSettings(styles, models or default_models()))
    try:
        try:
            app, address = launch(server, host, port)
        except OSError:
            raise DoodleError(f"--port {port}: cannot serve there (in use, or {host} is not an address of this "
                              "machine); pass another --port or --host") from None
        say("", f"doodle studio at {address} (Ctrl-C stops it)")
        try:
            threading.Event().wait()  # the server runs on its own threads until Ctrl-C
        finally:
            app.close()
    finally:
        server.close()
