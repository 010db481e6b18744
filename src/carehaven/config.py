"""Settings, read once from the environment (prefix ``CAREHAVEN_``) and passed in explicitly.

Nothing in carehaven reads the environment at import time: the CLI builds one ``Settings`` and
hands it down, so tests build their own.

Plain dataclasses and a small parser rather than pydantic-settings: every command builds the
settings first, and importing pydantic-settings was a third of a read-only command's start-up
(issue 13 item 8). Each field says its type, bounds and description in one ``_setting``.
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from carehaven.errors import ConfigurationError

#: The development-only secret. Any environment other than development refuses it.
DEFAULT_SECRET = "carehaven-development-secret-change-me"  # noqa: S105
PREFIX = "CAREHAVEN_"


@dataclass(frozen=True)
class Secret:
    """A value never printed: its repr and str are masked, ``get_secret_value`` gives it."""

    _value: str

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


#: pydantic's name, kept so callers read the same.
SecretStr = Secret


def _setting(default: Any, description: str, *, gt: float | None = None,
             ge: float | None = None, le: float | None = None) -> Any:
    return field(default=default, metadata={"description": description, "gt": gt, "ge": ge,
                                            "le": le})


@dataclass(frozen=True)
class Settings:
    """Every setting carehaven reads. ``docs/settings.md`` lists them; a test keeps that true.
    ``Settings.load`` reads the environment; the constructor takes only what it is given."""

    haven: Path = _setting(
        Path("./haven"),
        "The haven folder: control database, data database, landing zone, keys, reports and "
        "outputs all live here.",
    )
    environment: Literal["development", "test", "production"] = _setting(
        "development",
        "development allows the built-in secret and the key file in the haven; production "
        "requires CAREHAVEN_SECRET_KEY and CAREHAVEN_MASTER_KEY.",
    )
    control_url: str | None = _setting(
        None,
        "SQLAlchemy URL of the control-plane database, e.g. postgresql+psycopg://user@host/db. "
        "Default: a SQLite file in the haven.",
    )
    control_admin_url: str | None = _setting(
        None,
        "SQLAlchemy URL of the role that owns the control-plane schema and runs the migrations "
        "(PostgreSQL). When set, carehaven itself connects as control_url's role, which is "
        "granted rows but not ownership, so it cannot drop the audit log's append-only "
        "triggers. Default: unset (one role does both).",
    )
    audit_key: Path | None = _setting(
        None,
        "The Ed25519 private key that signs audit checkpoints (PEM, owner-only). Default: "
        "keys/audit-signing.key in the haven, created by init; production requires a path "
        "outside the haven.",
    )
    data_engine: Literal["duckdb", "spark"] = _setting(
        "duckdb",
        "The engine linkage computes on: duckdb (embedded, the default) or spark (a local "
        "Spark session; records stay in the haven's DuckDB file).",
    )
    link_accept: float = _setting(
        0.90, "Match probability at or above which the model joins two profiles.", gt=0, le=1,
    )
    link_review: float = _setting(
        0.60,
        "Match probability from which, up to link_accept, a pair waits for a person's decision "
        "instead of being joined (SHR-12).",
        gt=0, le=1,
    )
    secret_key: Secret = _setting(
        Secret(DEFAULT_SECRET),
        "Secret for signing web sessions; the default is refused outside development.",
    )
    master_key: Secret | None = _setting(
        None,
        "Base64 of the 32-byte haven master key. When unset, the key file in the haven "
        "(created by init, owner-only) is used; production requires it to be set.",
    )
    session_idle_minutes: int = _setting(
        30, "A web session unused for this many minutes is over; its user signs in again.",
        gt=0,
    )
    session_absolute_hours: int = _setting(
        12, "No web session lasts longer than this many hours, however busy.", gt=0,
    )
    sign_in_lockout: int = _setting(
        10,
        "This many wrong passwords in a row lock an account until an administrator unlocks it "
        "(carehaven users unlock).",
        gt=0,
    )
    trusted_proxy: bool = _setting(
        False,
        "The web portal runs behind a reverse proxy that terminates TLS and sets "
        "X-Forwarded-Proto and X-Forwarded-For: trust those headers (HSTS, secure cookies, "
        "the client's address for throttling).",
    )
    max_file_mb: int = _setting(
        1024, "A submitted file larger than this many MiB is rejected whole, unread.", gt=0,
    )
    supersede_hold_share: float = _setting(
        0.5,
        "A resubmission bringing fewer than this share of the accepted rows, or of the people, "
        "of the submission in force is held until someone confirms it (carehaven submissions "
        "confirm); 0 never holds.",
        ge=0, le=1,
    )
    lock_timeout_s: float = _setting(
        30.0,
        "How long a pipeline step waits for the haven's writer lock before giving up.", ge=0,
    )
    fault_point: str | None = _setting(
        None,
        "Testing only (ignored in production): kill the process at this named step of a "
        "pipeline, to prove a crash leaves the haven consistent.",
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                _check_bounds(f.name, value, f.metadata)
        if self.environment != "development" and self.secret_key.get_secret_value() == (
            DEFAULT_SECRET
        ):
            _refuse("secret_key", "CAREHAVEN_SECRET_KEY must be set when CAREHAVEN_ENVIRONMENT "
                    f"is {self.environment}")
        if self.environment == "production" and self.master_key is None:
            _refuse("master_key", "CAREHAVEN_MASTER_KEY must be set in production")
        if self.environment == "production" and (
            self.audit_key is None or self.audit_key.resolve().is_relative_to(self.haven.resolve())
        ):
            _refuse("audit_key", "CAREHAVEN_AUDIT_KEY must be set in production, to a key file "
                    "outside the haven")
        if self.link_review > self.link_accept:
            _refuse("link_review", "CAREHAVEN_LINK_REVIEW must not be above "
                    "CAREHAVEN_LINK_ACCEPT: the review band runs from the first up to the second")

    @classmethod
    def described(cls) -> dict[str, str]:
        """Each setting's name and description, in order (docs/settings.md lists them)."""
        return {f.name: str(f.metadata["description"]) for f in fields(cls)}

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from the environment plus explicit overrides (which win), with errors as
        one sentence. Environment names are matched without regard to case."""
        env = {k.upper(): v for k, v in (os.environ if environ is None else environ).items()
               if k.upper().startswith(PREFIX)}
        hints = typing.get_type_hints(cls)
        given: dict[str, Any] = {}
        for f in fields(cls):
            if overrides.get(f.name) is not None:
                given[f.name] = _parse(f.name, overrides[f.name], hints[f.name])
            elif PREFIX + f.name.upper() in env:
                given[f.name] = _parse(f.name, env[PREFIX + f.name.upper()], hints[f.name])
        unknown = sorted(set(overrides) - {f.name for f in fields(cls)})
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(unknown)}")
        return cls(**given)


def _refuse(name: str, message: str) -> typing.NoReturn:
    raise ConfigurationError(f"Setting {name}: {message}.")


def _check_bounds(name: str, value: float, bounds: Mapping[str, Any]) -> None:
    if bounds.get("gt") is not None and not value > bounds["gt"]:
        _refuse(name, f"Input should be greater than {bounds['gt']}")
    if bounds.get("ge") is not None and not value >= bounds["ge"]:
        _refuse(name, f"Input should be greater than or equal to {bounds['ge']}")
    if bounds.get("le") is not None and not value <= bounds["le"]:
        _refuse(name, f"Input should be less than or equal to {bounds['le']}")


def _parse(name: str, raw: object, hint: Any) -> Any:
    """``raw`` (a string from the environment, or a typed override) as the field's type."""
    optional = get_origin(hint) in (typing.Union, types.UnionType)
    kind = next(a for a in get_args(hint) if a is not type(None)) if optional else hint
    if optional and isinstance(raw, str) and raw.strip() == "":
        return None  # an empty variable unsets an optional setting
    if get_origin(kind) is Literal:
        allowed = get_args(kind)
        if raw not in allowed:
            _refuse(name, "Input should be " + " or ".join(repr(a) for a in allowed))
        return raw
    if kind is Secret:
        return raw if isinstance(raw, Secret) else Secret(str(raw))
    if kind is Path:
        return raw if isinstance(raw, Path) else Path(str(raw))
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        _refuse(name, "Input should be true or false")
    if kind is int and not isinstance(raw, bool):
        try:
            return int(str(raw).strip()) if not isinstance(raw, int) else raw
        except ValueError:
            _refuse(name, "Input should be a valid integer, unable to parse string as an "
                    "integer")
    if kind is float and not isinstance(raw, bool):
        try:
            return float(str(raw).strip()) if not isinstance(raw, int | float) else float(raw)
        except ValueError:
            _refuse(name, "Input should be a valid number, unable to parse string as a number")
    if kind is str:
        return str(raw)
    _refuse(name, f"Input should be a {getattr(kind, '__name__', kind)}")

