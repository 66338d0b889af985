"""The one exception type that reaches the user as a one-line message, and how names are shown in it
and in every human-readable output."""

import re


class ScratchnetError(Exception):
    """A problem with the user's input, files or settings.

    The command line prints ``scratchnet: error: <message>`` and exits non-zero;
    the message names the file or value and what is wrong with it.
    """


# What a terminal must not get raw from a name or a user's string: control characters (a newline would
# print a fake line, ESC starts escape sequences), the line and paragraph separators, the marks that
# reorder text (bidi overrides), and the lone surrogates that stand for bytes not UTF-8 in a file name.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    char = match[0]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for the byte code - 0xDC00
        return f"\\x{code - 0xDC00:02x}"
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: object) -> str:
    """``text`` (a file name, a path, a user's string, a message holding them) as human-readable output
    may show it: every character above escaped as Python writes it (\\n, \\x1b, \\u202e; a byte of a
    name that is not UTF-8 as \\xff). --json output needs none of this: JSON escapes them itself."""
    return _UNSAFE.sub(_escape, str(text))
