"""Shadow evaluation: grade a sample of cheaper answers against a stronger tier, and feed ``routed-llm train``.

With ``routing.shadow`` set, a sampled call served live by another tier than
``shadow.tier`` is answered again by that tier *after* the served answer is complete,
in a background thread: the caller never waits for it. A judge then grades whether
the served answer was as good: a tier (``shadow.judge``) prompted with the rubric
shipped in the package (``shadow_rubric.txt``), or ``exact``, which compares the two
answers as parsed JSON or normalised text (for classification and extraction). Each
graded pair appends one line to ``shadow.outcomes`` in the ``routed-llm train`` format::

    {"prompt": "...", "quality": {"fast": 0, "premium": 1}, "cost": {"fast": 0.0004, "premium": 0.006},
     "shadow": {"task": "reasoning", "served": "fast", "tier": "premium", "judge": "premium", ...}}

(the served tier first, as ``train`` reads tiers cheapest first; ``shadow`` is extra
context ``train`` ignores and ``routed-llm report --shadow`` reads).

What keeps it safe and cheap:

- the policy decides: a call is shadowed only where its decision did not exclude the
  shadow tier (nor an LLM judge's tier), so confidential data goes only to private
  tiers, and capability, context and budget exclusions hold as for any call;
- shadow and judge calls are spend like any other: recorded under the tag ``shadow``
  (`BudgetManager.record`), counted by every limit, and refused when the budget has
  closed their tier at the moment they would run;
- at most ``max_concurrent`` evaluations run at once; a sampled call arriving while
  that many are in flight is not shadowed (nothing queues up);
- a shadow call, judge call or verdict that fails records nothing and logs why.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from routed_llm.config import ShadowConfig
from routed_llm.config.shadow import EXACT_JUDGE
from routed_llm.engine import RoutingInfo
from routed_llm.errors import InvalidRequest
from routed_llm.types import RouteDecision, Sensitivity

if TYPE_CHECKING:
    from routed_llm.router import Router

__all__ = [
    "RUBRIC_NAME",
    "ShadowEvaluator",
    "ShadowStats",
    "Verdict",
    "exact_verdict",
    "judge_messages",
    "judge_rubric",
    "parse_verdict",
    "shadow_report",
]

logger = logging.getLogger(__name__)

RUBRIC_NAME = "shadow_rubric.txt"
"""The judge's rubric (system prompt), shipped in the package."""

#: In ``routing.shadow.outcomes``, stands for the served tier: one outcomes file per served tier, each of which
#: ``routed-llm train`` takes as it is (its rows all name the same two tiers).
SERVED_PLACEHOLDER = "{served}"

#: Tag the shadow and judge calls' spend is recorded under.
SHADOW_TAG = "shadow"


def judge_rubric() -> str:
    """Return the rubric the judge tier is prompted with."""
    return (resources.files("routed_llm") / RUBRIC_NAME).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Verdict:
    """A judge's grade of the served answer against the shadow tier's."""

    quality: float
    """Quality of the served answer in [0, 1] (1: as good as the shadow tier's)."""
    reason: str = ""


def _strip_fences(text: str) -> str:
    text = text.strip()
    match = re.fullmatch(r"```[A-Za-z0-9_-]*\s*\n?(.*?)\n?```", text, flags=re.DOTALL)
    return match.group(1).strip() if match else text


def _normalise(text: str) -> str:
    text = " ".join(_strip_fences(text).casefold().split())
    return text.strip(" .!;:'\"`")


def _as_json(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(_strip_fences(text))
    except ValueError:
        return False, None


def exact_verdict(served: str, shadow: str) -> Verdict:
    """``judge: exact``: equal as parsed JSON when both parse, else as normalised text (case, spaces, fences)."""
    served_ok, served_json = _as_json(served)
    shadow_ok, shadow_json = _as_json(shadow)
    if served_ok and shadow_ok:
        same = served_json == shadow_json
        return Verdict(1.0 if same else 0.0, "same JSON" if same else "different JSON")
    same = _normalise(served) == _normalise(shadow)
    return Verdict(1.0 if same else 0.0, "same text" if same else "different text")


def _request_text(messages: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
        if content:
            lines.append(f"{m.get('role', 'user')}: {content}")
    return "\n".join(lines)


def judge_messages(messages: Sequence[Mapping[str, Any]], served: str, shadow: str) -> list[dict[str, Any]]:
    """Build the judge call's messages: the rubric, then the request and both answers."""
    body = (
        f"REQUEST:\n{_request_text(messages)}\n\n"
        f"ANSWER A (served):\n{served}\n\n"
        f"ANSWER B (reference):\n{shadow}\n\n"
        'Is ANSWER A as good as ANSWER B? Reply with {"as_good": true|false, "reason": "..."} only.'
    )
    return [{"role": "system", "content": judge_rubric()}, {"role": "user", "content": body}]


def parse_verdict(text: str | None) -> Verdict:
    """Read the judge's reply: one JSON object with a boolean ``as_good``.

    Raises:
        ValueError: saying what is wrong with a reply that is no verdict.
    """
    if not text or not text.strip():
        raise ValueError("the judge answered nothing")
    body = _strip_fences(text)
    match = re.search(r"\{.*\}", body, flags=re.DOTALL)
    if match is None:
        raise ValueError(f"no JSON object in the judge's answer {text[:120]!r}")
    try:
        data = json.loads(match.group(0))
    except ValueError:
        raise ValueError(f"the judge's JSON does not parse: {match.group(0)[:120]!r}") from None
    verdict = data.get("as_good") if isinstance(data, dict) else None
    if not isinstance(verdict, bool):
        raise ValueError(f"the judge's JSON has no boolean 'as_good': {match.group(0)[:120]!r}")
    reason = data.get("reason")
    return Verdict(1.0 if verdict else 0.0, str(reason)[:300] if reason is not None else "")


@dataclass
class ShadowStats:
    """Counts since the router started (thread-safe through the evaluator's lock)."""

    sampled: int = 0
    """Calls sampled and handed to a background evaluation."""
    graded: int = 0
    """Pairs graded and written to the outcomes file."""
    failed: int = 0
    """Evaluations that recorded nothing (a call, the judge or the verdict failed)."""
    busy: int = 0
    """Sampled calls not shadowed because ``max_concurrent`` evaluations were in flight."""
    skipped: dict[str, int] = field(default_factory=dict)
    """Calls not eligible, by reason (policy, budget, cached, served by the shadow tier...)."""
    peak_in_flight: int = 0
    """Most evaluations in flight at once."""


class ShadowEvaluator:
    """Runs ``routing.shadow`` for one `Router`: sampling, the background shadow and judge calls, the outcomes file."""

    def __init__(self, router: Router, config: ShadowConfig, *, rng: random.Random | None = None) -> None:
        self.router = router
        self.config = config
        self.tier: str = config.tier or router.savings.tier
        self.judge: str = config.judge or self.tier
        self.path = Path(config.outcomes).expanduser()
        self.stats = ShadowStats()
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(config.max_concurrent)
        self._pool = ThreadPoolExecutor(max_workers=config.max_concurrent, thread_name_prefix="routed-llm-shadow")
        self._in_flight = 0
        self._futures: set[Future[None]] = set()

    # ------------------------------------------------------------------ on the served path (cheap, never blocks)

    def offer(
        self,
        info: RoutingInfo,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        served_text: str | None,
    ) -> Future[None] | None:
        """Consider a served call for shadowing; start a background evaluation if it is sampled and allowed.

        Returns the evaluation's future (``None`` when the call is not shadowed). Never blocks
        and never raises: the served answer is already complete and must not be disturbed.
        """
        try:
            why = self._refusal(info, params, served_text)
            if why is not None:
                self._skip(why)
                return None
            if self.config.sample <= 0 or self._rng.random() >= self.config.sample:
                return None
            if not self._slots.acquire(blocking=False):
                with self._lock:
                    self.stats.busy += 1
                logger.debug("shadow: %d evaluation(s) in flight (max_concurrent); call not shadowed", self._in_flight)
                return None
            try:
                future = self._pool.submit(self._run, info, [dict(m) for m in messages], dict(params), str(served_text))
            except RuntimeError:  # the router is closing
                self._slots.release()
                return None
            with self._lock:
                self.stats.sampled += 1
                self._futures.add(future)
            future.add_done_callback(self._forget)
            return future
        except Exception:  # pragma: no cover - a bug here must never fail the served call
            logger.exception("shadow: could not consider the call for shadow evaluation")
            return None

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def _refusal(self, info: RoutingInfo, params: Mapping[str, Any], served_text: str | None) -> str | None:
        """Why this call is not eligible for shadowing (``None``: it is)."""
        d = info.decision
        if info.cached:
            return "cached answer"
        if d is None:
            return "no routing decision"
        if info.tier == self.tier:
            return "served by the shadow tier"
        if params.get("tools") or not served_text:
            return "no text answer (tool calls are not graded)"
        for role, tier in (("shadow", self.tier), ("judge", self.judge)):
            if tier == EXACT_JUDGE and role == "judge":
                continue
            if tier in d.excluded:
                return f"policy: {role} tier {tier} excluded for this call ({d.excluded[tier]})"
            if d.sensitivity is Sensitivity.CONFIDENTIAL and not self.router.profiles[tier].private:
                return f"policy: confidential data never goes to the non-private {role} tier {tier}"
        return None

    def _skip(self, why: str) -> None:
        key = why.split(" (", 1)[0]
        with self._lock:
            self.stats.skipped[key] = self.stats.skipped.get(key, 0) + 1
        logger.debug("shadow: call not shadowed: %s", why)

    # ------------------------------------------------------------------ in the background

    def _run(self, info: RoutingInfo, messages: list[dict[str, Any]], params: dict[str, Any], served: str) -> None:
        with self._lock:
            self._in_flight += 1
            self.stats.peak_in_flight = max(self.stats.peak_in_flight, self._in_flight)
        try:
            if self._evaluate(info, messages, params, served):
                with self._lock:
                    self.stats.graded += 1
            else:
                with self._lock:
                    self.stats.failed += 1
        except Exception as e:
            with self._lock:
                self.stats.failed += 1
            logger.warning("shadow: evaluation failed, nothing recorded: %s: %s", type(e).__name__, e)
        finally:
            with self._lock:
                self._in_flight -= 1
            self._slots.release()

    def _closed(self, decision: RouteDecision, tiers: Sequence[str]) -> str | None:
        """Say which budget limit closes one of ``tiers`` now (read when the shadow call would run), if any."""
        budget = self.router.budget
        if budget is None:
            return None
        closures = budget.closures({}, decision.needs)
        for tier in tiers:
            if tier in closures:
                return f"budget closed tier {tier} ({closures[tier].reason})"
        return None

    def _call(self, decision: RouteDecision, tier: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> Any:
        """One shadow or judge call on ``tier`` alone (no fallback), its spend recorded under the tag ``shadow``."""
        one = decision.model_copy(
            update={
                "tier": tier,
                "fallbacks": (),
                "rule": "shadow",
                "reason": f"shadow evaluation on tier {tier}",
                "timeout_s": None,  # the caller's max_latency_ms bounds the served call, not the evaluation
            }
        )
        result = self.router.engine.complete(one, messages, params)
        if self.router.budget is not None:
            info = result.routing
            self.router.budget.record(
                tier=info.tier, model=info.model, cost_usd=info.cost_usd, metadata={"tags": [SHADOW_TAG]}
            )
        return result

    def _evaluate(self, info: RoutingInfo, messages: list[dict[str, Any]], params: dict[str, Any], served: str) -> bool:
        decision = info.decision
        assert decision is not None  # checked by `_refusal`
        llm_judge = self.judge != EXACT_JUDGE
        closed = self._closed(decision, [self.tier, *([self.judge] if llm_judge else [])])
        if closed is not None:
            self._skip(closed)
            return False
        call_params = {k: v for k, v in params.items() if k not in ("stream", "stream_options")}
        if self.config.max_tokens is not None:
            call_params["max_tokens"] = self.config.max_tokens
        shadow = self._call(decision, self.tier, messages, call_params)
        shadow_text = _text(shadow.response)
        if not shadow_text:
            logger.warning("shadow: tier %s answered no text; nothing recorded", self.tier)
            return False
        if llm_judge:
            judge_params: dict[str, Any] = {"temperature": 0}
            if self.config.max_tokens is not None:
                judge_params["max_tokens"] = self.config.max_tokens
            graded = self._call(decision, self.judge, judge_messages(messages, served, shadow_text), judge_params)
            reply = _text(graded.response)
            try:
                verdict = parse_verdict(reply)
            except ValueError as e:
                logger.warning("shadow: judge tier %s gave no usable verdict, nothing recorded: %s", self.judge, e)
                return False
            judge_cost = graded.routing.cost_usd
        else:
            verdict = exact_verdict(served, shadow_text)
            judge_cost = 0.0
        self._append(info, decision, messages, shadow.routing, verdict, judge_cost)
        return True

    def _append(
        self,
        info: RoutingInfo,
        decision: RouteDecision,
        messages: list[dict[str, Any]],
        shadow: RoutingInfo,
        verdict: Verdict,
        judge_cost: float,
    ) -> None:
        """Append the graded pair to the outcomes file: one line, written whole (``O_APPEND``)."""
        only = messages[0] if len(messages) == 1 else None
        row: dict[str, Any] = (
            {"prompt": only["content"]}
            if only is not None and only.get("role") == "user" and isinstance(only.get("content"), str)
            else {"messages": messages}
        )
        row["quality"] = {info.tier: verdict.quality, self.tier: 1.0}
        row["cost"] = {info.tier: info.cost_usd, self.tier: shadow.cost_usd}
        row["shadow"] = {
            "task": decision.task.value,
            "served": info.tier,
            "tier": self.tier,
            "judge": self.judge,
            "reason": verdict.reason,
            "judge_cost_usd": judge_cost,
            "ts": round(time.time(), 3),
        }
        line = (json.dumps(row, default=str) + "\n").encode()
        with self._lock:
            path = self.outcomes_path(info.tier)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)

    def outcomes_path(self, served_tier: str) -> Path:
        """Return the file a pair served by ``served_tier`` goes to (``{served}`` in ``outcomes``: a file per tier)."""
        return Path(str(self.path).replace(SERVED_PLACEHOLDER, served_tier))

    # ------------------------------------------------------------------ lifecycle

    @property
    def in_flight(self) -> int:
        """Evaluations running now."""
        return self._in_flight

    def drain(self, timeout: float | None = None) -> None:
        """Wait until the evaluations started so far have finished (for scripts and tests)."""
        with self._lock:
            pending = list(self._futures)
        deadline = None if timeout is None else time.monotonic() + timeout
        for future in pending:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                future.result(timeout=left)
            except Exception:  # failures are logged by `_run`; a timeout leaves it running
                pass

    def close(self) -> None:
        """Wait for the evaluations in flight (at most ``max_concurrent``), then stop the worker threads."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def _text(response: Any) -> str:
    try:
        content = response.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        return ""
    return content if isinstance(content, str) else ""


def shadow_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Match rate of the served answers (their mean graded quality) by served tier and task, from an outcomes file.

    Lines without the ``shadow`` context (outcomes written by hand) are left out. A path holding
    ``{served}`` reads every per-tier file it stands for.
    """
    pattern = Path(path).expanduser()
    files = (
        sorted(pattern.parent.glob(pattern.name.replace(SERVED_PLACEHOLDER, "*")))
        if SERVED_PLACEHOLDER in pattern.name
        else [pattern]
    )
    files = [f for f in files if f.is_file()]
    if not files:
        raise InvalidRequest(f"no shadow outcomes at {pattern}: nothing has been graded yet (routing.shadow.outcomes)")
    groups: dict[tuple[str, str, str], list[tuple[float, float, float]]] = {}
    for file in files:
        _read_outcomes(file, groups)
    rows: list[dict[str, Any]] = [
        {
            "tier": served,
            "task": task,
            "shadow_tier": tier,
            "pairs": len(items),
            "match_rate": sum(q for q, _, _ in items) / len(items),
            "cost_usd": sum(c for _, c, _ in items),
            "shadow_cost_usd": sum(s for _, _, s in items),
        }
        for (served, task, tier), items in sorted(groups.items())
    ]
    pairs = sum(len(items) for items in groups.values())
    matched = sum(q for items in groups.values() for q, _, _ in items)
    return {"pairs": pairs, "match_rate": matched / pairs if pairs else 0.0, "by": rows}


def _read_outcomes(file: Path, groups: dict[tuple[str, str, str], list[tuple[float, float, float]]]) -> None:
    """Add the graded pairs of one outcomes file to ``groups`` (served tier, task, shadow tier)."""
    with file.open(encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
                ctx = row["shadow"]
                served, tier = str(ctx["served"]), str(ctx["tier"])
                item = (
                    float(row["quality"][served]),
                    float((row.get("cost") or {}).get(served, 0.0)),
                    float((row.get("cost") or {}).get(tier, 0.0)) + float(ctx.get("judge_cost_usd") or 0.0),
                )
            except (ValueError, KeyError, TypeError):
                logger.debug("shadow report: %s line %d is no shadow outcome, left out", file, number)
                continue
            groups.setdefault((served, str(ctx.get("task", "-")), tier), []).append(item)
