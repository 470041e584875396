"""Sessions: agent turns that keep their tier, tool loops that stay on one tier, stall escalation.

A call belongs to a session when it carries a key: the ``session_id`` hint (adapter kwarg,
``hints={"session_id": ...}`` on `Router`), or ``metadata["session_id"]`` /
``metadata["thread_id"]`` (LangGraph's ``thread_id`` reaches here through the adapters).
Per session the store keeps the tier the session holds and the deployment it runs on;
`routed_llm.policy.decide` reads that as input (`SessionState`) and applies
``routing.sessions.affinity``: ``escalate_only`` never lets the tier go down, ``sticky``
keeps the first. Hard constraints still win, and the reason says so.

Tool loops are one step, with or without a key: a call whose last message is a tool result
(or an assistant message with pending tool calls) goes to the tier, and deployment, that
issued those calls. The adapters carry it in the conversation: each assistant message with
tool calls gets a ``"routing": {"tier", "deployment"}`` marker (from LangChain's
``response_metadata["routing"]`` or LlamaIndex's ``additional_kwargs["routing"]``), which
`routed_llm.router.normalize_messages` strips before anything reaches a provider. Raw OpenAI
messages without markers are continued from the store, keyed by the session or, without
one, by a hash of the system prompt and the first user message.

Stalls: within one user turn, the same tool call (name and arguments) ``stall_repeats``
times in a row, or that many tool errors in a row, moves the loop up one tier; a session
then stays there (its tier rises).

The state lives where the cache and ledger live: SQLite (one file per host, WAL) by default,
Redis for many hosts, so every process of an app shares a session; entries expire
``ttl_s`` after the session's last call. A store that fails is logged and ignored: sessions
never fail a call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from routed_llm.cache import CacheStore, MemoryCacheStore, RedisCacheStore, SQLiteCacheStore
from routed_llm.config import RoutingConfig, SessionsConfig
from routed_llm.policy import SessionState
from routed_llm.types import RouteDecision, RouteHints

__all__ = [
    "ERROR_MARKER",
    "METADATA_KEYS",
    "ROUTING_MARKER",
    "SessionCall",
    "SessionManager",
    "SQLiteSessionStore",
    "Turn",
    "read_turn",
    "session_key",
    "session_store_url",
]

logger = logging.getLogger(__name__)

#: Key of the routing marker an assistant message with tool calls may carry: ``{"tier", "deployment"}``.
ROUTING_MARKER = "routing"
#: Key a tool-result message may carry to say it is an error (LangChain's ``status="error"``).
ERROR_MARKER = "is_error"
#: Metadata keys read as a session key when no ``session_id`` hint is given.
METADATA_KEYS = ("session_id", "thread_id")
#: A tool result reads as an error when it starts like one (LangChain's ToolNode writes
#: ``Error: ...``; LlamaIndex agents ``Encountered error: ...``).
_ERROR_TEXT = re.compile(r"^\s*(?:error\b|exception\b|traceback\b|encountered (?:an )?error\b|failed\b)", re.I)
#: Refresh a live entry's expiry at most this often (a fraction of the TTL): no write per call.
_REFRESH_FRACTION = 0.1


def session_key(hints: RouteHints) -> str | None:
    """Return the call's session key: the ``session_id`` hint, else ``metadata["session_id"]`` / ``["thread_id"]``."""
    if hints.session_id is not None:
        return hints.session_id
    for name in METADATA_KEYS:
        value = hints.metadata.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)[:512]
    return None


# --------------------------------------------------------------------------- reading a conversation


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, Mapping))
    return ""


def _calls_signature(message: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """Return the tool calls of an assistant message as comparable (name, arguments) pairs."""
    out = []
    for call in message.get("tool_calls") or ():
        fn = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(fn, Mapping):
            continue
        args = fn.get("arguments")
        if not isinstance(args, str):
            args = json.dumps(args, sort_keys=True, default=str)
        else:  # the same arguments written with other spacing or key order are the same call
            try:
                args = json.dumps(json.loads(args), sort_keys=True)
            except ValueError:
                pass
        out.append((str(fn.get("name") or ""), args))
    return tuple(sorted(out))


def _is_error(message: Mapping[str, Any]) -> bool:
    marker = message.get(ERROR_MARKER)
    if marker is not None:
        return bool(marker)
    return bool(_ERROR_TEXT.match(_text(message.get("content"))))


@dataclass(frozen=True)
class Turn:
    """What a call's messages say about its tool loop (read once, before routing)."""

    continuation: bool = False
    """The last message is a tool result, or an assistant message with pending tool calls."""
    issuer: str | None = None
    """Tier named by the routing marker of the last assistant message with tool calls."""
    issuer_deployment: str | None = None
    """Deployment named by that marker."""
    repeats: int = 0
    """Identical tool-call rounds in a row at the end of the current user turn."""
    errors: int = 0
    """Tool results that are errors in a row at the end of the current user turn."""
    conversation: str = ""
    """Hash of the system prompt and first user message: the key of a keyless conversation."""

    def stall(self, threshold: int) -> str | None:
        """Why the loop is stuck, when a stall escalation is due on this call (every ``threshold`` repeats)."""
        if not self.continuation:
            return None
        if self.repeats >= threshold and self.repeats % threshold == 0:
            return f"the same tool call {self.repeats} times in a row"
        if self.errors >= threshold and self.errors % threshold == 0:
            return f"{self.errors} tool errors in a row"
        return None


def read_turn(messages: Sequence[Mapping[str, Any]]) -> Turn:
    """Read a call's tool-loop facts from its (raw, OpenAI-format) messages."""
    if not messages:
        return Turn()
    last = messages[-1]
    role = last.get("role")
    continuation = role in ("tool", "function") or (role == "assistant" and bool(last.get("tool_calls")))
    issuer = issuer_dep = None
    repeats = errors = 0
    if continuation:
        signature: tuple[tuple[str, str], ...] | None = None
        errors_open = run_open = True
        for m in reversed(messages):
            r = m.get("role")
            if r == "user":
                break
            if r in ("tool", "function"):
                if errors_open:
                    if _is_error(m):
                        errors += 1
                    else:
                        errors_open = False
                continue
            if r == "assistant" and m.get("tool_calls"):
                if issuer is None and signature is None:
                    marker = m.get(ROUTING_MARKER)
                    if isinstance(marker, Mapping):
                        issuer = marker.get("tier") if isinstance(marker.get("tier"), str) else None
                        dep = marker.get("deployment")
                        issuer_dep = dep if isinstance(dep, str) else None
                calls = _calls_signature(m)
                if signature is None:
                    signature, repeats = calls, 1
                elif run_open and calls == signature:
                    repeats += 1
                else:
                    run_open = False
            elif r == "assistant":
                break  # an answer without tool calls ends the loop
    return Turn(continuation, issuer, issuer_dep, repeats, errors, _conversation_hash(messages))


def _conversation_hash(messages: Sequence[Mapping[str, Any]]) -> str:
    system = [_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer")][:2]
    first_user = next((_text(m.get("content")) for m in messages if m.get("role") == "user"), "")
    blob = json.dumps([system, first_user], separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


# --------------------------------------------------------------------------- stores


class SQLiteSessionStore(SQLiteCacheStore):
    """The response cache's SQLite store on a ``sessions`` table of its own, without an fsync per write.

    A session's tier is a routing preference, not money: losing the last write to a power
    cut is acceptable, an fsync on every call is not. Sessions always have a TTL.
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, table="sessions", fsync_each_write=False)


def _sibling(url: str) -> str:
    """``sqlite:///dir/ledger.db`` -> ``sqlite:///dir/sessions.db``."""
    path = Path(url.split("://", 1)[1].removeprefix("/")).expanduser()
    return f"sqlite:///{path.with_name('sessions.db')}"


def session_store_url(config: RoutingConfig) -> str:
    """Where sessions live: ``routing.sessions.store``, else beside the ledger or the cache, else ``~/.routed_llm``."""
    own = config.routing.sessions.store
    if own is not None:
        return own.get_secret_value()
    shared = [
        section.store.get_secret_value()
        for section in (config.budgets, config.cache)
        if section is not None and getattr(section, "enabled", True)
    ]
    for url in shared:  # many hosts share a Redis: so must their sessions
        if url.split("://", 1)[0].lower() in ("redis", "rediss"):
            return url
    for url in shared:
        scheme = url.split("://", 1)[0].lower()
        if scheme == "sqlite":
            return _sibling(url)
        if scheme == "memory":
            return "memory://"
    return "sqlite:///~/.routed_llm/sessions.db"


def _make_store(url: str, config: SessionsConfig) -> CacheStore:
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        return MemoryCacheStore()
    if scheme in ("redis", "rediss"):
        return RedisCacheStore(url, namespace=config.namespace)
    return SQLiteSessionStore(Path(url.split("://", 1)[1].removeprefix("/")))


# --------------------------------------------------------------------------- the manager


@dataclass
class SessionCall:
    """One call's session bookkeeping, from `SessionManager.begin` to `SessionManager.finish`."""

    key: str | None
    """Store key: ``s:<id>`` for a session, ``c:<scope>:<hash>`` for a keyless tool conversation; ``None``: none."""
    record: dict[str, Any]
    """What the store held for the key when the call began."""
    state: SessionState | None
    """The policy's input (``None``: neither a session nor a tool loop)."""


class SessionManager:
    """What the `Router` asks: the call's `SessionState` before routing, and to remember the outcome after."""

    def __init__(self, config: RoutingConfig, store: CacheStore | None = None) -> None:
        self.config = config.routing.sessions
        self.order: tuple[str, ...] = tuple(self.config.order or config.tiers)
        self.url = session_store_url(config)
        # A keyless conversation is matched by its opening only: scope it to this config's tiers, so
        # another app sharing the store (same prompt, other tiers) never continues on our record.
        tiers = {name: [d.model for d in tier.models] for name, tier in config.tiers.items()}
        self._scope = hashlib.sha256(json.dumps(tiers, sort_keys=True).encode()).hexdigest()[:8]
        self._store = store
        self._lock = threading.Lock()

    @property
    def store(self) -> CacheStore:
        """The session store, opened at first use (a router that never sees a session opens nothing)."""
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = _make_store(self.url, self.config)
        return self._store

    def _read(self, key: str) -> dict[str, Any]:
        try:
            raw = self.store.get(key)
            value = json.loads(raw) if raw else {}
            return value if isinstance(value, dict) else {}
        except Exception as e:  # sessions never fail a call
            logger.warning("session store read failed (routing without session state): %s: %s", type(e).__name__, e)
            return {}

    def begin(
        self, messages: Sequence[Mapping[str, Any]], hints: RouteHints, params: Mapping[str, Any]
    ) -> SessionCall | None:
        """Read the call's session and tool loop; ``None`` when sessions are off or the call has neither."""
        if not self.config.enabled:
            return None
        sid = session_key(hints)
        turn = read_turn(messages)
        if sid is None and not turn.continuation and not params.get("tools"):
            return None  # a plain call: nothing to read, nothing to remember
        key = f"s:{sid}" if sid is not None else f"c:{self._scope}:{turn.conversation}"
        needs_record = sid is not None or (turn.continuation and turn.issuer is None)
        record = self._read(key) if needs_record else {}
        if sid is None and not turn.continuation:
            return SessionCall(key, record, None)  # remember who answers a tool-bound call, route it on its own
        continuation = continuation_dep = None
        if turn.continuation:
            continuation = turn.issuer or record.get("last_tier")
            continuation_dep = turn.issuer_deployment if turn.issuer else record.get("last_deployment")
            if continuation not in self.order:
                continuation = continuation_dep = None  # nothing known about who issued the calls
        if sid is None and continuation is None:
            return SessionCall(key, record, None)
        pinned = record.get("tier") if sid is not None else None
        state = SessionState(
            affinity=self.config.affinity,
            order=self.order,
            id=sid,
            pinned_tier=pinned if pinned in self.order else None,
            deployment=record.get("deployment") if sid is not None else None,
            continuation=continuation,
            continuation_deployment=continuation_dep,
            stall=turn.stall(self.config.stall_repeats) if continuation is not None else None,
        )
        return SessionCall(key, record, state)

    def finish(self, call: SessionCall | None, decision: RouteDecision, tier: str, deployment: str | None) -> None:
        """Remember the served call: the session's tier and deployment, and who answered (for tool continuations)."""
        if call is None or call.key is None:
            return
        record = dict(call.record)
        record["last_tier"], record["last_deployment"] = tier, deployment
        outcome = decision.session
        if outcome is not None and outcome.get("id") is not None:
            pinned = outcome.get("pinned_tier")
            record["tier"] = pinned
            if pinned == tier and deployment is not None:
                record["deployment"] = deployment
            elif record.get("deployment") and not str(record["deployment"]).startswith(f"{pinned}/"):
                record.pop("deployment", None)
        now = time.time()
        unchanged = {k: v for k, v in record.items() if k != "at"} == {
            k: v for k, v in call.record.items() if k != "at"
        }
        if unchanged and now - float(call.record.get("at") or 0) < self.config.ttl_s * _REFRESH_FRACTION:
            return  # nothing new, and the entry's expiry is fresh enough
        record["at"] = now
        try:
            self.store.set(call.key, json.dumps(record, separators=(",", ":")), self.config.ttl_s)
        except Exception as e:  # sessions never fail a call
            logger.warning("session store write failed: %s: %s", type(e).__name__, e)

    def close(self) -> None:
        """Release the store."""
        if self._store is not None:
            self._store.close()
