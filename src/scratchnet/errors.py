"""The one exception type that reaches the user as a one-line message."""


class ScratchnetError(Exception):
    """A problem with the user's input, files or settings.

    The command line prints ``scratchnet: error: <message>`` and exits non-zero;
    the message names the file or value and what is wrong with it.
    """
