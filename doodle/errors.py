"""The one exception type for problems the user can fix."""


class DoodleError(Exception):
    """Bad input or an impossible request. The message is one line that says what to do."""


class ConfigError(DoodleError, ValueError):
    """A setting that cannot work: a value out of range, an unknown choice, settings that clash.

    It is a DoodleError because the README promises one error type for everything the user can fix,
    so front doors catch DoodleError alone. It is also a ValueError because a bad setting is a bad
    value in Python's own terms, and callers that already catch ValueError around `PaintConfig(...)`
    (tests, the CLI, scripts written against earlier releases) keep working unchanged.
    """
