"""User-facing errors: the CLI prints them as one line (``plum: error: ...``) without a traceback."""


class PlumError(Exception):
    """Bad input or configuration. The message names what is wrong and where (file:line)."""
