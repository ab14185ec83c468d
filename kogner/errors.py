"""Errors that name the file and record at fault, so users never read a deep traceback."""

from __future__ import annotations


class KognerError(Exception):
    """Base class of every error KoGNER reports to users (the CLI prints it in one line)."""


class InputFormatError(KognerError):
    """Malformed input: names the file and the record (line number, PMID, document id)."""

    def __init__(self, path: object, record: object, message: str) -> None:
        self.path = str(path)
        self.record = record
        self.reason = message
        location = f"{self.path}:{record}" if record is not None else self.path
        super().__init__(f"{location}: {message}")


class OptionError(KognerError):
    """An option outside the values it accepts (a batch size of 0): names the option."""
