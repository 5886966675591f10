"""How a command ends when something it needs is wrong: one line and a documented exit code."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    """Exit codes of ``xgw`` (docs/cli.md lists them)."""

    OK = 0
    PROBLEMS = 1  #: a check ran and found problems (config check, schemas check, adapters check)
    CONFIG = 2  #: command line or configuration unusable (file, syntax, values, keys)
    DATABASE = 3  #: the database cannot be reached or refuses us
    BROKER = 4  #: RabbitMQ cannot be reached or refuses us
    PORT = 5  #: the HTTP port cannot be bound
    INTERRUPTED = 130  #: stopped with Ctrl-C before it finished
    INTERNAL = 70  #: an unexpected error (a bug): ``--debug`` shows the traceback


class Failure(Exception):
    """A known failure: ``message`` says what is wrong, where, and what to do."""

    def __init__(self, message: str, code: Exit) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
