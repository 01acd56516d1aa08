"""The one error type that user input can raise.

Every bad input (an unknown key, a value out of range, a malformed file) ends in an
:class:`InputError` whose message is a single line naming what is wrong and what is
allowed. The command line turns it into that line on stderr and exit status 2.
"""


class InputError(ValueError):
    """Bad user input: the message is one line, fit to print as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))
