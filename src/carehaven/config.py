"""Settings, read once from the environment (prefix ``CAREHAVEN_``) and passed in explicitly.

Nothing in carehaven reads the environment at import time: the CLI builds one ``Settings`` and
hands it down, so tests build their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from carehaven.errors import ConfigurationError

#: The development-only secret. Any environment other than development refuses it.
DEFAULT_SECRET = "carehaven-development-secret-change-me"  # noqa: S105


class Settings(BaseSettings):
    """Every setting carehaven reads. ``docs/settings.md`` lists them; a test keeps that true."""

    model_config = SettingsConfigDict(env_prefix="CAREHAVEN_", extra="ignore", frozen=True)

    haven: Path = Field(
        default=Path("./haven"),
        description="The haven folder: control database, data database, landing zone, keys, "
        "reports and outputs all live here.",
    )
    environment: Literal["development", "test", "production"] = Field(
        default="development",
        description="development allows the built-in secret and the key file in the haven; "
        "production requires CAREHAVEN_SECRET_KEY and CAREHAVEN_MASTER_KEY.",
    )
    control_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the control-plane database, e.g. "
        "postgresql+psycopg://user@host/db. Default: a SQLite file in the haven.",
    )
    control_admin_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the role that owns the control-plane schema and runs "
        "the migrations (PostgreSQL). When set, carehaven itself connects as control_url's "
        "role, which is granted rows but not ownership, so it cannot drop the audit log's "
        "append-only triggers. Default: unset (one role does both).",
    )
    audit_key: Path | None = Field(
        default=None,
        description="The Ed25519 private key that signs audit checkpoints (PEM, owner-only). "
        "Default: keys/audit-signing.key in the haven, created by init; production requires "
        "a path outside the haven.",
    )
    data_engine: Literal["duckdb", "spark"] = Field(
        default="duckdb",
        description="The engine linkage computes on: duckdb (embedded, the default) or spark "
        "(a local Spark session; records stay in the haven's DuckDB file).",
    )
    link_accept: float = Field(
        default=0.90,
        gt=0,
        le=1,
        description="Match probability at or above which the model joins two profiles.",
    )
    link_review: float = Field(
        default=0.60,
        gt=0,
        le=1,
        description="Match probability from which, up to link_accept, a pair waits for a "
        "person's decision instead of being joined (SHR-12).",
    )
    secret_key: SecretStr = Field(
        default=SecretStr(DEFAULT_SECRET),
        description="Secret for signing web sessions; the default is refused outside development.",
    )
    master_key: SecretStr | None = Field(
        default=None,
        description="Base64 of the 32-byte haven master key. When unset, the key file in the "
        "haven (created by init, owner-only) is used; production requires it to be set.",
    )
    max_file_mb: int = Field(
        default=1024,
        gt=0,
        description="A submitted file larger than this many MiB is rejected whole, unread.",
    )
    supersede_hold_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="A resubmission bringing fewer than this share of the accepted rows, or "
        "of the people, of the submission in force is held until someone confirms it "
        "(carehaven submissions confirm); 0 never holds.",
    )
    lock_timeout_s: float = Field(
        default=30.0,
        ge=0,
        description="How long a pipeline step waits for the haven's writer lock before giving up.",
    )
    fault_point: str | None = Field(
        default=None,
        description="Testing only (ignored in production): kill the process at this named step "
        "of a pipeline, to prove a crash leaves the haven consistent.",
    )

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if (
            self.environment != "development"
            and self.secret_key.get_secret_value() == DEFAULT_SECRET
        ):
            raise ValueError(
                f"CAREHAVEN_SECRET_KEY must be set when CAREHAVEN_ENVIRONMENT is {self.environment}"
            )
        if self.environment == "production" and self.master_key is None:
            raise ValueError("CAREHAVEN_MASTER_KEY must be set in production")
        if self.environment == "production" and (
            self.audit_key is None or self.audit_key.resolve().is_relative_to(self.haven.resolve())
        ):
            raise ValueError(
                "CAREHAVEN_AUDIT_KEY must be set in production, to a key file outside the haven"
            )
        if self.link_review > self.link_accept:
            raise ValueError(
                "CAREHAVEN_LINK_REVIEW must not be above CAREHAVEN_LINK_ACCEPT: the review band "
                "runs from the first up to the second"
            )
        return self

    @classmethod
    def load(cls, **overrides: object) -> Settings:
        """Settings from the environment plus explicit overrides, with errors as one sentence."""
        from pydantic import ValidationError

        given = {k: v for k, v in overrides.items() if v is not None}
        try:
            return cls(**given)  # type: ignore[arg-type]
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "settings"
            msg = first["msg"].removeprefix("Value error, ")
            raise ConfigurationError(f"Setting {where}: {msg}.") from None
