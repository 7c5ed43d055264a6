"""Exceptions raised by fastdigits.

Library code raises these and never prints; the command line turns them
into one red line on stderr and exit code 1.
"""


class FastDigitsError(Exception):
    """Base class of every error that fastdigits raises on purpose."""


class DataError(FastDigitsError):
    """A data file or folder is missing, corrupt or not what was expected."""


class DownloadError(DataError):
    """No mirror delivered a file with the expected checksum."""


class InputError(FastDigitsError, ValueError):
    """An argument has the wrong type, shape, dtype or value."""


class ModelFileError(FastDigitsError):
    """A file is not a readable fastdigits model."""


class OutputError(FastDigitsError, OSError):
    """A file cannot be written where asked (a folder in its place, no
    permission, a read-only or full file system); an ``OSError`` too, as
    the failure of a plain ``open`` would be."""
