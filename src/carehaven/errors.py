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


#: The HTTP status a web route answers with for each exit code (issue 14 part 0): one table,
#: so the API and the command line can never disagree about what kind of failure it was.
HTTP_STATUS: dict[ExitCode, int] = {
    ExitCode.OK: 200,
    ExitCode.INTERNAL: 500,
    ExitCode.USAGE: 400,
    ExitCode.FILE_REJECTED: 422,
    ExitCode.UNKNOWN_DATASET: 404,
    ExitCode.UNKNOWN_ORGANISATION: 404,
    ExitCode.NO_HAVEN: 503,
    ExitCode.AUDIT_FAILED: 500,
    ExitCode.HAVEN_BUSY: 503,
    ExitCode.NOT_FOUND: 404,
    ExitCode.CONFIGURATION: 503,
    ExitCode.LEAK_FOUND: 422,
    ExitCode.DISCLOSURE_UNSAFE: 422,
    ExitCode.ACCESS_DENIED: 403,
    ExitCode.POLICY_DENIED: 403,
    ExitCode.WRONG_SUBMITTER: 403,
    ExitCode.NEEDS_CONFIRMATION: 409,
}


class CarehavenError(Exception):
    """An error whose message is a sentence fit for the user; it never holds identifier values.

    ``exit_code`` is what the command line exits with; ``http_status`` what a web route answers
    (``HTTP_STATUS``, unless ``conceal`` asks for 404: a refusal that must not reveal that the
    thing exists, such as another organisation's submission); ``code`` a stable name for the
    API's error body (the exit code's name, lower case)."""

    exit_code: ExitCode = ExitCode.INTERNAL
    conceal: bool = False

    def __init__(
        self, message: str, *, exit_code: ExitCode | None = None, conceal: bool = False
    ) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
        self.conceal = conceal

    @property
    def message(self) -> str:
        return str(self.args[0])

    @property
    def http_status(self) -> int:
        return 404 if self.conceal else HTTP_STATUS[self.exit_code]

    @property
    def code(self) -> str:
        return "not_found" if self.conceal else self.exit_code.name.lower()


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
