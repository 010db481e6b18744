"""Errors a user can meet, each with its own documented exit code (docs/exit-codes.md)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    FILE_REJECTED = 3
    UNKNOWN_DATASET = 4
    UNKNOWN_ORGANISATION = 5
    NO_HAVEN = 6
    AUDIT_FAILED = 7
    HAVEN_BUSY = 8
    NOT_FOUND = 9
    CONFIGURATION = 10
    LEAK_FOUND = 11
    DISCLOSURE_UNSAFE = 12
    ACCESS_DENIED = 13
    POLICY_DENIED = 14
    WRONG_SUBMITTER = 15
    NEEDS_CONFIRMATION = 16


class CarehavenError(Exception):
    """An error whose message is a sentence fit for the user; it never holds identifier values."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0])


class UsageError(CarehavenError):
    exit_code = ExitCode.USAGE


class NotFoundError(CarehavenError):
    exit_code = ExitCode.NOT_FOUND


class ConfigurationError(CarehavenError):
    exit_code = ExitCode.CONFIGURATION


class AccessDeniedError(CarehavenError):
    """The acting user's roles do not allow the command (SHR-6, SHR-7)."""

    exit_code = ExitCode.ACCESS_DENIED


class PolicyDeniedError(CarehavenError):
    """The sharing policy refuses a release (SHR-1 to SHR-8, CON-1)."""

    exit_code = ExitCode.POLICY_DENIED


class WrongSubmitterError(CarehavenError):
    """The organisation is not of a kind that returns the dataset (COL-9)."""

    exit_code = ExitCode.WRONG_SUBMITTER
