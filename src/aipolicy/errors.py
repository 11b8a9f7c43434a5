"""Exceptions that carry a message meant for the user (no traceback is shown for these)."""


class AipolicyError(Exception):
    """An expected failure: bad input, a missing file, a refused model. The CLI prints the message."""


class SkipFile(AipolicyError):
    """One input file cannot be used; the batch goes on and the file is listed as skipped."""


class ModelIntegrityError(AipolicyError):
    """A model file does not match the checksum recorded when it was trained; it is not loaded."""
