"""The one exception type for problems the user can fix."""


class DoodleError(Exception):
    """Bad input or an impossible request. The message is one line that says what to do."""
