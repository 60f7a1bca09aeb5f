"""The project's errors, grouped by what the caller should do; each carries its exit code.

Vendor exceptions are translated into these at the adapter boundary (connectors/), so the
pipeline and the CLI never see a simple-salesforce or gspread exception.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_BAD_INPUT = 2
EXIT_CONNECT = 3
EXIT_BRAKE = 4
EXIT_SKIPPED = 5  # another run holds the lock; this one did nothing


class CsSyncError(Exception):
    """Base class: `str(error)` says what went wrong and what to do next."""

    exit_code = EXIT_BAD_INPUT
    kind = "error"
    read: str | None = None  # which of several reads sent together failed (its `what`)


class ConfigError(CsSyncError):
    """The configuration file is missing, unreadable or invalid (every problem listed)."""

    kind = "config"

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path}: {len(problems)} problem(s) in the configuration:\n{lines}")


class InputError(CsSyncError):
    """Input data (usage file, sheet) cannot be used as it is."""

    kind = "input"


class SetupError(CsSyncError):
    """The org is not set up for cs-sync (missing field, missing permission)."""

    kind = "setup"


class PermissionDenied(SetupError):
    """The integration user lacks a permission the call needs (INSUFFICIENT_ACCESS...)."""


class InternalError(CsSyncError):
    """Something nobody foresaw (a bug): named, with the traceback in the debug log (-vv)."""

    exit_code = EXIT_PARTIAL
    kind = "internal"


class ConnectError(CsSyncError):
    """A service cannot be reached, even after bounded retries."""

    exit_code = EXIT_CONNECT
    kind = "connect"


class AuthError(CsSyncError):
    """Credentials were refused, or a secret could not be read."""

    exit_code = EXIT_CONNECT
    kind = "auth"


class Interrupted(CsSyncError):
    """A stop was requested (SIGTERM); the run ended between two write calls."""

    exit_code = EXIT_PARTIAL
    kind = "interrupted"


class TransientError(CsSyncError):
    """A failure worth retrying (5xx, lock contention, a busy org); retried in one place."""

    exit_code = EXIT_CONNECT
    kind = "transient"


class Unanswered(TransientError):
    """A request sent whose answer never came (a timeout, a dropped connection): it may have
    been done. Safe to repeat only when the request is idempotent."""


class BudgetExhausted(CsSyncError):
    """The org's daily API allowance is gone or below the configured reserve."""

    exit_code = EXIT_BRAKE
    kind = "api_budget"


class BrakeError(CsSyncError):
    """A safety brake refused to apply the plan."""

    exit_code = EXIT_BRAKE
    kind = "brake"


class LockHeld(CsSyncError):
    """Another cs-sync run holds the run lock; this one is skipped, having done nothing."""

    exit_code = EXIT_SKIPPED
    kind = "locked"
