"""Exceptions. A ``UserError`` is a mistake in what the user asked for; the CLI prints its
message on one line and exits with status 2 instead of showing a traceback."""


class UserError(ValueError):
    """Bad input from the user: a wrong number count, an unknown task, a missing file."""
