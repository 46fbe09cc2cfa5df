"""The `doodle` command's entry point (also `python -m doodle`).

It exists so that Ctrl-C while the command line's own modules load (typer, rich, numpy: a quarter
of a second before any command runs, and longer on a busy machine) is one line and exit 130 like
every other interruption, not a traceback. Once a command runs, `cli.handles_errors` answers it.
"""

from __future__ import annotations

import signal
import sys


def main() -> None:
    try:
        from .cli import app
    except KeyboardInterrupt:
        sys.stderr.write("interrupted while starting; nothing written\n")
        raise SystemExit(128 + signal.SIGINT) from None  # 130, as interrupts.exit_code says
    app()


if __name__ == "__main__":
    main()
