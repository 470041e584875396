"""The ``budgets:``, ``cache:`` and ``telemetry:`` sections: spend limits, the response cache, reporting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator

from routed_llm.config._base import _Strict


def _store_scheme(url: str, field: str) -> str:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in ("sqlite", "redis", "rediss", "memory"):
        raise ValueError(
            f"{field}: expected sqlite:///path (e.g. sqlite:///~/.routed_llm/ledger.db), "
            "redis://host:port/db or memory:// (this process only)"
        )
    return scheme


def _reject_bool(v: Any) -> Any:
    if isinstance(v, bool):  # YAML reads yes/no/true as booleans, which pydantic would take as $1/$0
        raise ValueError("expected an amount in USD, not a boolean")
    return v


#: An amount in USD: a finite number; booleans are refused.
Usd = Annotated[float, BeforeValidator(_reject_bool)]


class BudgetLimits(_Strict):
    """Spend limits in USD for one scope (everything, a provider, a tier, or a metadata value)."""

    daily_usd: Usd | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Spend allowed per calendar day (in ``budgets.timezone``)."""
    weekly_usd: Usd | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Spend allowed per ISO week (Monday to Sunday)."""
    monthly_usd: Usd | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Spend allowed per calendar month."""
    per_request_usd: Usd | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Largest estimated cost of one call, checked before the call (worst case: the tier's
    dearest deployment and the call's output cap, else the tier's, else 1024 tokens)."""

    def windowed(self) -> dict[str, float]:
        """Return the windowed limits that are set: ``{"day": 10.0, ...}``."""
        out = {"day": self.daily_usd, "week": self.weekly_usd, "month": self.monthly_usd}
        return {k: v for k, v in out.items() if v is not None}


class MetadataLimits(BudgetLimits):
    """Limits applied to each value of one call-metadata key, with per-value ``overrides``."""

    overrides: dict[str, BudgetLimits] = Field(default_factory=dict)
    """Value -> limits for that value only (e.g. ``{alice: {daily_usd: 20}}``). A window the
    override leaves out inherits the default above; write it as ``null`` to lift it for that value.
    Spend is counted per value either way, so an override takes effect on the current window."""

    @field_validator("overrides", mode="before")
    @classmethod
    def _string_keys(cls, v: Any) -> Any:
        # Metadata values are compared as text (``user_id: 42`` is "42") and YAML reads the key ``42:``
        # as an int, so numbers become text. ``yes:`` or ``null:`` are refused: rarely meant as a value.
        if not isinstance(v, Mapping):
            return v
        out: dict[Any, Any] = {}
        for k, x in v.items():
            if isinstance(k, bool) or k is None:
                raise ValueError(f"override key {k!r} is not text; quote it in the YAML if it is a metadata value")
            out[str(k) if isinstance(k, int | float) else k] = x
        return out

    def for_value(self, value: str) -> tuple[BudgetLimits, frozenset[str]]:
        """Return the limits that apply to ``value`` and the field names its override set.

        Why inherit: an override usually raises or lowers one window for one user; repeating every
        other default there would be easy to forget and silently lift those limits.
        """
        override = self.overrides.get(value)
        defaults = BudgetLimits(**{name: getattr(self, name) for name in BudgetLimits.model_fields})
        if override is None:
            return defaults, frozenset()
        taken = frozenset(override.model_fields_set)
        return defaults.model_copy(update={name: getattr(override, name) for name in taken}), taken


class AlertConfig(_Strict):
    """One alert threshold: a fraction of every windowed limit."""

    at: float = Field(gt=0, le=1)
    """Fraction of the limit (e.g. ``0.8``) at which the alert fires, once per limit and window."""
    notify: list[str] = Field(default_factory=list)
    """Names passed to alert callbacks (who to tell); routed-llm itself only logs."""
    action: Literal["notify", "downgrade"] = "notify"
    """``downgrade`` also closes the paid tiers the limit covers from this fraction on
    (the seeds' "throttle to local" before the limit is reached)."""


class BudgetsConfig(_Strict):
    """The ``budgets:`` section: a spend ledger shared by every adapter, limits, alerts.

    Top-level limits cover all spend; ``providers``, ``tiers`` and ``per_metadata`` add
    narrower ones. A paid tier whose limit is spent is closed (``downgrade``) or the call
    raises `BudgetExceeded` (``raise``). Private tiers and tiers priced at zero are never
    closed by spend.
    """

    store: SecretStr = SecretStr("sqlite:///~/.routed_llm/ledger.db")
    """Ledger URL: ``sqlite:///path`` (one host, many processes), ``redis://host:port/db`` (many hosts)
    or ``memory://`` (this process only). Secret because a Redis URL may carry a password."""
    daily_usd: Usd | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Total spend allowed per day."""
    weekly_usd: Usd | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Total spend allowed per ISO week."""
    monthly_usd: Usd | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Total spend allowed per calendar month."""
    per_request_usd: Usd | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Largest estimated cost of any one call, checked before the call."""
    providers: dict[str, BudgetLimits] = Field(default_factory=dict)
    """LiteLLM provider (``anthropic``, ``openai``, ...) -> limits on spend with that provider."""
    tiers: dict[str, BudgetLimits] = Field(default_factory=dict)
    """Tier name -> limits on spend in that tier."""
    per_metadata: dict[str, MetadataLimits] = Field(default_factory=dict)
    """Call-metadata key (e.g. ``user_id``) -> limits applied to each of its values separately
    (a list value such as ``tags`` counts against each item), with optional per-value ``overrides``."""
    alert_at: list[float | AlertConfig] = Field(default_factory=list)
    """Alert thresholds as fractions (``[0.8, 0.95]``) or ``{at, notify, action}`` mappings."""
    on_exceeded: Literal["downgrade", "raise"] = "downgrade"
    """``downgrade``: close the tiers whose budget is spent, so calls move to cheaper or free tiers
    (the reason says which limit); ``raise``: raise `BudgetExceeded` when the chosen tier is closed."""
    on_ledger_error: Literal["fail_closed", "fail_open"] = "fail_closed"
    """When spend cannot be read or recorded: ``fail_closed`` closes every paid tier until the ledger
    works again; ``fail_open`` logs and carries on. Unrecorded spend is kept and retried either way."""
    timezone: str = "UTC"
    """IANA time zone in which days, weeks and months start."""
    lock_timeout_s: float = Field(default=10.0, gt=0)
    """Seconds to wait for another process's SQLite write lock before reporting a ledger error."""
    record_metadata: list[str] = Field(default_factory=lambda: ["user_id", "tags"])
    """Call-metadata keys stored with each ledger entry, for ``routed-llm report --by tag``."""
    keep_entries_days: float = Field(default=400, gt=0, allow_inf_nan=False)
    """How long the ledger keeps individual entries (what ``routed-llm report`` reads); older ones are
    trimmed as new ones are written. The limit counters are kept apart and not trimmed by this, so the
    daily/weekly/monthly limits stay exact, whatever the value; the default covers a year of reports."""
    journal_dir: str | None = None
    """Where spend the ledger could not take is written at once, so a crash or exit loses none; the
    next router on the host with the same ledger replays it (entries carry ids, so nothing is counted twice). Default:
    ``<ledger file>.unrecorded/`` for SQLite, ``~/.routed_llm/unrecorded/redis-<host>-<port>-db<n>-<hash>/``
    for Redis (one directory per server and database), none for memory."""

    @field_validator("alert_at", mode="after")
    @classmethod
    def _sorted_alerts(cls, v: list[float | AlertConfig]) -> list[float | AlertConfig]:
        for item in v:
            if isinstance(item, float) and not 0 < item <= 1:
                raise ValueError(f"alert thresholds are fractions of a limit in (0, 1], got {item}")
        return v

    @field_validator("keep_entries_days", mode="before")
    @classmethod
    def _days_not_bool(cls, v: Any) -> Any:
        if isinstance(v, bool):  # YAML reads yes/no as booleans, which pydantic would take as 1/0 days
            raise ValueError("expected a number of days, not a boolean")
        return v

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}; use an IANA name such as UTC or Europe/Berlin") from None
        return v

    @field_validator("store")
    @classmethod
    def _known_store(cls, v: SecretStr) -> SecretStr:
        _store_scheme(v.get_secret_value(), "budgets.store")
        return v

    @property
    def alerts(self) -> list[AlertConfig]:
        """Alert thresholds as `AlertConfig`, lowest first."""
        items = [a if isinstance(a, AlertConfig) else AlertConfig(at=a) for a in self.alert_at]
        return sorted(items, key=lambda a: a.at)

    @property
    def total(self) -> BudgetLimits:
        """The top-level limits as a `BudgetLimits`."""
        return BudgetLimits(
            daily_usd=self.daily_usd,
            weekly_usd=self.weekly_usd,
            monthly_usd=self.monthly_usd,
            per_request_usd=self.per_request_usd,
        )


class CacheConfig(_Strict):
    """The ``cache:`` section: a response cache in front of every tier, shared by both frameworks."""

    enabled: bool = True
    """Turn the cache on; an absent ``cache:`` section means no cache."""
    store: SecretStr = SecretStr("sqlite:///~/.routed_llm/responses.db")
    """``sqlite:///path``, ``redis://host:port/db`` or ``memory://``. Secret: a Redis URL may carry a password."""
    ttl_s: float | None = Field(default=86400.0, gt=0)
    """Seconds an entry stays valid; ``null`` keeps entries forever."""
    private: bool = False
    """The store stays on your own machines. Only then are confidential calls cached."""
    namespace: str = "routed_llm:resp"
    """Redis key prefix."""

    @field_validator("store")
    @classmethod
    def _known_store(cls, v: SecretStr) -> SecretStr:
        _store_scheme(v.get_secret_value(), "cache.store")
        return v


class LangfuseConfig(_Strict):
    """``telemetry.langfuse``: one Langfuse generation per routed call, named after the model that served it."""

    enabled: bool = True
    """Send generations; ``false`` keeps the section in the file but sends nothing."""
    public_key: str | None = None
    """Langfuse public key; ``None`` lets the SDK read ``LANGFUSE_PUBLIC_KEY``."""
    secret_key: SecretStr | None = None
    """Langfuse secret key; ``None`` lets the SDK read ``LANGFUSE_SECRET_KEY``. Never logged or traced."""
    host: str | None = None
    """Langfuse base URL (e.g. ``https://cloud.langfuse.com`` or a self-hosted server); ``None``: SDK default."""
    capture_content: bool = True
    """Record input messages and output text; ``false`` records routing, usage and cost only (sensitive data)."""


class PrometheusConfig(_Strict):
    """``telemetry.prometheus``: request duration, token, error and cost metrics via ``prometheus_client``."""

    enabled: bool = True
    """Collect metrics; ``false`` keeps the section in the file but collects nothing."""
    registry: Literal["private", "default"] = "private"
    """``private``: a registry of the router's own (``router.telemetry.registry``, expose it yourself);
    ``default``: prometheus_client's global registry (what ``start_http_server`` serves). Use ``default``
    for one router per process only: the metric names can be registered once per registry."""


class TelemetryConfig(_Strict):
    """The ``telemetry:`` section: where routed calls are reported. Absent sections report nothing."""

    langfuse: LangfuseConfig | None = None
    """Langfuse tracing (needs the ``langfuse`` package, extra ``observability``)."""
    prometheus: PrometheusConfig | None = None
    """Prometheus metrics (needs ``prometheus-client``, extra ``observability``)."""
