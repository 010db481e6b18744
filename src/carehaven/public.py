"""What goes over the wire: the base of each package's ``Public`` models (issue 14 part 0).

A ``Public`` model is the contract of one entity as the outside sees it: the command line's
``--json`` and the web API both return it, and the API's OpenAPI schema is generated from it.
It is never a database row: each package's ``public.py`` builds its models from the domain's
own views, naming only what a reader of that entity may see. Importing pydantic costs a
command about 0.17 s, so the human-readable listings build no model (ADR 0017)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Public(BaseModel):
    """Frozen and closed: a field the contract does not name is an error, not a leak."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def as_json(self) -> dict[str, object]:
        """The JSON the command line prints and the API sends."""
        return self.model_dump(mode="json")
