"""The one exception type that programs turn into a one-line message and exit status 2."""


class StyljaxError(Exception):
    """A user-facing error: bad input, missing weights, a file that cannot be read.

    The message is a single line that names the file (or thing) and the reason. Programs catch
    it at the top level, print `styljax: <message>` to stderr and exit with status 2.
    """

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class TooLarge(StyljaxError):
    """An input over a size limit, refused before it was decoded or read (HTTP 413): an image's
    header declaring too many pixels or a decompression bomb, an archive member larger than allowed."""
