"""The ``routing.sessions:`` section: session affinity, tool-loop continuity and stall escalation."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from routed_llm.config._base import _Strict

#: What session affinity does with the tier of a session's later calls.
Affinity = Literal["escalate_only", "sticky", "off"]


class SessionsConfig(_Strict):
    """Calls that share a session key (``session_id`` hint, LangGraph ``thread_id``) keep their tier.

    ``escalate_only`` (default): within a session the tier never goes down; a harder turn may
    go up and the session then stays there. ``sticky``: the session keeps its first tier.
    ``off``: every call is routed on its own (tool continuations and stalls included).
    Hard constraints (confidential data, capabilities, context window, a closed budget) always
    win over affinity, and the routing reason says so. A call whose last message is a tool
    result goes to the tier (and deployment) that issued the tool calls, with or without a key.
    """

    affinity: Affinity = "escalate_only"
    """``escalate_only``, ``sticky`` or ``off``."""
    ttl_s: float = Field(default=3600.0, gt=0, allow_inf_nan=False)
    """Seconds a session is remembered after its last call."""
    stall_repeats: int = Field(default=3, ge=2)
    """The same tool call (name and arguments) this many times in a row, or this many tool errors in a
    row, within one user turn is a stall: the session moves up one tier and stays there."""
    order: list[str] | None = None
    """Tiers from cheapest to dearest, for "up" and "down"; default: the order of ``tiers:``."""
    store: SecretStr | None = None
    """``sqlite:///path``, ``redis://host:port/db`` or ``memory://``. Default: beside the ledger or
    cache (the same Redis, or ``sessions.db`` in the same directory), else
    ``sqlite:///~/.routed_llm/sessions.db``. Secret: a Redis URL may carry a password."""
    namespace: str = "routed_llm:session"
    """Redis key prefix."""

    @field_validator("ttl_s", "stall_repeats", mode="before")
    @classmethod
    def _not_bool(cls, v: Any) -> Any:
        if isinstance(v, bool):  # YAML's yes/no would pass as 1/0
            raise ValueError("expected a number, not a boolean")
        return v

    @field_validator("store")
    @classmethod
    def _known_store(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            from routed_llm.config.services import _store_scheme

            _store_scheme(v.get_secret_value(), "routing.sessions.store")
        return v

    @property
    def enabled(self) -> bool:
        """Whether sessions, tool-loop continuity and stall escalation are on."""
        return self.affinity != "off"
