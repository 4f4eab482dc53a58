"""The one exception type that reaches users as a one-line message."""

import click


class DigitcliError(click.ClickException):
    """A problem the user can act on: printed as one line, exit status 1."""
