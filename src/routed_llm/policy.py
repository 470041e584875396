"""The routing policy: request + hints + state -> `RouteDecision`. Pure, no I/O.

Order of reasoning, which is also the order of the ``reason`` text:

1. Fill omitted hints (task, complexity, sensitivity) with the heuristic classifier;
   with ``routing.complexity_from_score``, an omitted complexity comes from the score.
2. Hard constraints rule tiers out, each with the constraint that did it:
   confidential data only to ``private`` tiers; tools / JSON schema / images only
   to tiers whose every deployment supports them; the prompt (plus requested
   output) must fit the tier's smallest context window; ``max_cost_usd`` and
   ``max_latency_ms`` hints; tiers the budget has closed (``RouterState``).
3. Choose a chain: an explicit ``tier`` hint, else the first matching rule (rules may
   read the routing score), else the ``routing.threshold`` strategy's tier for the
   score, else the default tier; the chain is that tier plus its configured fallbacks.
4. Keep only eligible tiers of the chain, in order, moving tiers that recently
   failed to the back. The first is the tier to call, the rest are fallbacks:
   a fallback can therefore never break a rule the primary had to keep.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from routed_llm.catalog import TierProfile
from routed_llm.classify import Classification, classify_messages
from routed_llm.config import RoutingConfig, RuleCondition
from routed_llm.errors import InvalidRequest, NoEligibleTier, TierNotAllowed, UnknownTier
from routed_llm.scoring.base import Score
from routed_llm.scoring.heuristic import HeuristicScorer
from routed_llm.scoring.strategy import complexity_from_score, threshold_tier
from routed_llm.types import RequestNeeds, RouteDecision, RouteHints, Sensitivity

__all__ = ["RouterState", "SessionState", "decide", "estimated_output_tokens"]

#: Output tokens assumed for a cost estimate when neither the call nor the tier caps them.
DEFAULT_OUTPUT_ESTIMATE = 1024


@dataclass(frozen=True)
class RouterState:
    """What the policy knows about the world right now, passed in by the caller."""

    unhealthy_tiers: frozenset[str] = frozenset()
    """Tiers that failed recently; they are tried last rather than first."""
    closed_tiers: Mapping[str, str] = field(default_factory=dict)
    """Tiers the budget has closed, with why (e.g. ``"daily budget $10 spent"``)."""


@dataclass(frozen=True)
class SessionState:
    """What the policy knows about the call's session and tool loop, passed in by the caller (`routed_llm.sessions`).

    The policy reads it as data: the store, the session key and the message history are the caller's.
    """

    affinity: str
    """``escalate_only`` or ``sticky`` (``off`` never reaches the policy)."""
    order: tuple[str, ...]
    """Tiers from cheapest to dearest: what "up" and "down" mean."""
    id: str | None = None
    """The session key, or ``None`` for a tool loop without one."""
    pinned_tier: str | None = None
    """The session's tier so far (``None`` before its first call)."""
    deployment: str | None = None
    """The session's deployment (``<tier>/<i>``), kept while the session stays on its tier."""
    continuation: str | None = None
    """The tier that issued the pending tool calls, when the call continues a tool loop."""
    continuation_deployment: str | None = None
    """The deployment that issued them."""
    stall: str | None = None
    """Why the tool loop is stuck (repeated call, errors in a row), when a stall escalation is due now."""

    def rank(self, tier: str) -> int:
        """Position of ``tier`` from the cheapest (-1 if unknown)."""
        return self.order.index(tier) if tier in self.order else -1

    def above(self, tier: str) -> list[str]:
        """Tiers dearer than ``tier``, cheapest first."""
        r = self.rank(tier)
        return [t for t in self.order if self.rank(t) > r]


def estimated_output_tokens(needs: RequestNeeds, profile: TierProfile) -> int:
    """Output tokens a call may produce on ``profile``: the caller's cap, else the tier's."""
    return needs.max_output_tokens or profile.max_output_tokens or DEFAULT_OUTPUT_ESTIMATE


def _exclusion(
    profile: TierProfile,
    needs: RequestNeeds,
    hints: RouteHints,
    sensitivity: Sensitivity,
    state: RouterState,
) -> str | None:
    """Return why ``profile`` cannot serve the call, or ``None`` if it can."""
    if sensitivity is Sensitivity.CONFIDENTIAL and not profile.private:
        return "not private (sensitivity=confidential)"
    if needs.tools and not profile.tools:
        return "no tool calling (the call has tools)"
    if needs.json_schema and not profile.json_schema:
        return "no JSON-schema output (the call has a response schema)"
    if needs.images and not profile.vision:
        return "no image input (a message has an image)"
    wanted = needs.prompt_tokens + needs.max_output_tokens
    if wanted > profile.context_window:
        return (
            f"context window {profile.context_window} < {needs.prompt_tokens} prompt"
            f" + {needs.max_output_tokens} output tokens"
        )
    if hints.max_cost_usd is not None:
        estimate = profile.estimate_cost(needs.prompt_tokens, estimated_output_tokens(needs, profile))
        if estimate > hints.max_cost_usd:
            return f"estimated cost ${estimate:.6f} > max_cost_usd ${hints.max_cost_usd:.6f}"
    if hints.max_latency_ms is not None and profile.latency_ms is not None:
        if profile.latency_ms > hints.max_latency_ms:
            return f"typical latency {profile.latency_ms} ms > max_latency_ms {hints.max_latency_ms}"
    if profile.name in state.closed_tiers:
        return f"closed by budget ({state.closed_tiers[profile.name]})"
    return None


def _matches(cond: RuleCondition, decision_facts: Mapping[str, Any], hints: RouteHints, needs: RequestNeeds) -> bool:
    if cond.task is not None and decision_facts["task"] not in cond.task:
        return False
    if cond.complexity is not None and decision_facts["complexity"] not in cond.complexity:
        return False
    if cond.sensitivity is not None and decision_facts["sensitivity"] not in cond.sensitivity:
        return False
    if cond.context_tokens_over is not None and not needs.prompt_tokens > cond.context_tokens_over:
        return False
    if cond.context_tokens_at_most is not None and not needs.prompt_tokens <= cond.context_tokens_at_most:
        return False
    if cond.max_latency_ms_at_most is not None and (
        hints.max_latency_ms is None or hints.max_latency_ms > cond.max_latency_ms_at_most
    ):
        return False
    if cond.tools is not None and cond.tools != needs.tools:
        return False
    if cond.images is not None and cond.images != needs.images:
        return False
    if cond.json_output is not None and cond.json_output != (needs.json_schema or needs.json_mode):
        return False
    score = decision_facts.get("score")
    if cond.score_over is not None and (score is None or not score > cond.score_over):
        return False
    if cond.score_at_most is not None and (score is None or not score <= cond.score_at_most):
        return False
    if cond.metadata is not None:
        for key, expected in cond.metadata.items():
            actual = hints.metadata.get(key)
            if isinstance(expected, list) and not isinstance(actual, list):
                if actual not in expected:
                    return False
            elif actual != expected:
                return False
    return True


_descriptions: dict[int, tuple[weakref.ref[RuleCondition], str]] = {}


def _describe(cond: RuleCondition) -> str:
    """``cond.describe()``, rendered once per condition object (configs are frozen)."""
    entry = _descriptions.get(id(cond))
    if entry is not None and entry[0]() is cond:
        return entry[1]
    text = cond.describe()
    key = id(cond)
    _descriptions[key] = (weakref.ref(cond, lambda _: _descriptions.pop(key, None)), text)
    return text


def _dedupe(names: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    return [n for n in names if not (n in seen or seen.add(n))]  # type: ignore[func-returns-value]


#: Exclusions a larger tier may lift (`_exclusion`'s wording): a session then moves up rather than aside.
_CAPACITY = ("context window", "no tool calling", "no JSON-schema", "no image input")


def _route_by_rules(
    config: RoutingConfig, facts: Mapping[str, Any], hints: RouteHints, needs: RequestNeeds, score: Score | None
) -> tuple[str, list[str], str]:
    """Return the chain routing alone gives a call: the first matching rule, the threshold strategy, or the default."""
    routing = config.routing
    for i, rule in enumerate(routing.rules):
        if _matches(rule.when, facts, hints, needs):
            rule_name = config.rule_name(i)
            chain = [
                rule.tier,
                *(rule.fallbacks if rule.fallbacks is not None else config.fallbacks_for(rule.tier)),
            ]
            return rule_name, chain, f"rule {rule_name!r} ({_describe(rule.when)}) -> {rule.tier}"
    if routing.threshold is not None and score is not None:
        chosen, why = threshold_tier(routing.threshold, score)
        return "threshold", [chosen, *config.fallbacks_for(chosen)], why
    default = routing.default
    return "default", [default, *config.fallbacks_for(default)], f"no rule matched; default tier {default}"


def decide(
    config: RoutingConfig,
    profiles: Mapping[str, TierProfile],
    messages: Sequence[Mapping[str, Any]],
    *,
    needs: RequestNeeds,
    hints: RouteHints | None = None,
    state: RouterState | None = None,
    classification: Classification | None = None,
    score: Score | None = None,
    session: SessionState | None = None,
) -> RouteDecision:
    """Decide which tier serves a call and which tiers may take over if it fails.

    Args:
        config: the validated routing config.
        profiles: resolved tier profiles (`routed_llm.catalog.build_profiles`).
        messages: OpenAI-format messages (used only to infer omitted hints).
        needs: what the request needs from a tier (tools, schema, images, tokens).
        hints: per-call hints; omitted ones are inferred.
        state: tier health and budget state.
        classification: a precomputed classification (skips the classifier).
        score: the call's routing score (the `Router` computes it with ``routing.scorer``).
            When the config reads a score and none is given, the heuristic score is used.
        session: the call's session and tool-loop state (`routed_llm.sessions`): a tool
            continuation stays on the tier that issued the tool calls (moved up one on a stall),
            and a session's tier never goes down (``escalate_only``) or stays put (``sticky``).
            Hard constraints still win, and the reason says so.

    Raises:
        InvalidRequest: no messages.
        UnknownTier: the ``tier`` hint names no configured tier.
        TierNotAllowed: the ``tier`` hint names a tier a hard constraint rules out.
        NoEligibleTier: no tier satisfies the hard constraints.
    """
    if not messages:
        raise InvalidRequest("messages is empty: pass at least one message to route")
    hints = hints or RouteHints()
    state = state or RouterState()

    routing = config.routing
    if hints.task is None or hints.complexity is None or hints.sensitivity is None:
        classification = classification or classify_messages(list(messages))
    if score is None and routing.uses_score and (session is None or session.continuation is None):
        classification = classification or classify_messages(list(messages))
        score = HeuristicScorer().score_classification(classification)
    inferred = tuple(k for k in ("task", "complexity", "sensitivity") if getattr(hints, k) is None)
    task = hints.task or classification.task  # type: ignore[union-attr]
    complexity = hints.complexity or classification.complexity  # type: ignore[union-attr]
    band_signal = None
    if hints.complexity is None and routing.complexity_from_score is not None and score is not None:
        complexity, band_signal = complexity_from_score(score, routing.complexity_from_score)
    sensitivity = hints.sensitivity or classification.sensitivity  # type: ignore[union-attr]
    facts: dict[str, Any] = {
        "task": task,
        "complexity": complexity,
        "sensitivity": sensitivity,
        "score": score.value if score is not None else None,
    }

    excluded = {
        name: why
        for name, profile in profiles.items()
        if (why := _exclusion(profile, needs, hints, sensitivity, state)) is not None
    }

    # 3. Choose the chain.
    target: str | None = None  # the tier session affinity asks for
    session_note = ""
    normal_chain: list[str] | None = None
    if hints.tier is not None:
        if hints.tier not in profiles:
            raise UnknownTier(hints.tier, list(profiles))
        if hints.tier in excluded:
            raise TierNotAllowed(
                f"tier {hints.tier!r} was requested but cannot serve this call "
                f"({excluded[hints.tier]}). Drop the tier hint, or change the request.",
                excluded,
            )
        rule_name = "hint:tier"
        chain = [hints.tier, *config.fallbacks_for(hints.tier)]
        why = f"tier {hints.tier!r} requested by the caller"
        if session is not None:
            session_note = "the caller's tier hint overrides session affinity"
    elif session is not None and session.continuation is not None:
        # A tool continuation is one step with the call that issued the tool calls: no rules, no score.
        target = session.continuation
        rule_name = "session:tool_loop"
        why = f"tool loop: continuing on {target}, the tier that issued the pending tool calls"
        if session.stall is not None:
            up = session.above(target)
            if up:
                why = f"stall ({session.stall}): moved up from {target} to {up[0]}"
                rule_name, target = "session:stall", up[0]
            else:
                why += f"; stall ({session.stall}), but no tier above {target}"
        pinned = session.pinned_tier
        if session.affinity == "escalate_only" and pinned is not None and session.rank(pinned) > session.rank(target):
            why += f"; the session is already on {pinned} (escalate_only)"
            target = pinned
        chain = [target, *config.fallbacks_for(target)]
        session_note = why
    else:
        rule_name, chain, why = _route_by_rules(config, facts, hints, needs, score)
        if session is not None and session.pinned_tier is not None:
            pinned = session.pinned_tier
            normal_chain = chain
            normal = next((t for t in chain if t not in excluded), None)
            if session.affinity == "sticky" and normal != pinned:
                target = pinned
                rule_name, chain = "session:sticky", [pinned, *config.fallbacks_for(pinned)]
                why = f"session keeps its tier {pinned} (sticky; routing alone: {why})"
                session_note = f"sticky: kept {pinned}"
            elif session.affinity == "escalate_only" and (
                normal is None or session.rank(normal) < session.rank(pinned)
            ):
                target = pinned
                rule_name, chain = "session:escalate_only", [pinned, *config.fallbacks_for(pinned)]
                why = f"session stays on {pinned} (escalate_only: never below its tier; routing alone: {why})"
                session_note = f"escalate_only: kept {pinned} rather than {normal or 'no eligible tier'}"
            else:
                session_note = f"routed on its own to {normal} (session tier {pinned})"
        elif session is not None:
            session_note = "first call of the session"

    if target is not None and session is not None and target in excluded:
        # Hard constraints win over affinity. A tier too small for the call (context window, a
        # capability) gives way to the cheapest tier above that fits; privacy, a closed budget or a
        # cost/latency bound give way to wherever routing alone goes (a private tier, a cheaper one).
        blocked = excluded[target]
        up = [t for t in session.above(target) if t not in excluded] if blocked.startswith(_CAPACITY) else []
        if up:
            chain = [up[0], *config.fallbacks_for(up[0])]
        elif normal_chain is not None:
            chain = normal_chain
        note = f"the session's tier {target} cannot serve this call ({blocked}): the hard constraint wins"
        why = f"{why}; {note}"
        session_note = f"{session_note}; {note}"

    chain = _dedupe(chain)
    eligible = [t for t in chain if t not in excluded]
    notes: list[str] = []
    skipped = [t for t in chain if t in excluded]
    if skipped:
        notes.append("skipped " + "; ".join(f"{t}: {excluded[t]}" for t in skipped))
    if not eligible:
        others = [t for t in profiles if t not in excluded and t not in chain]
        if config.routing.last_resort == "any_eligible" and others:
            eligible = others[:1]
            notes.append(
                f"no tier of the chain {chain} is eligible; using {others[0]}, the first eligible tier in config order"
            )
        else:
            raise NoEligibleTier(
                f"no tier can serve this call (chain {chain} from {rule_name}); "
                "each tier and the constraint that excluded it:",
                excluded,
            )

    # 4. Recently failed tiers go to the back; they stay as fallbacks.
    healthy = [t for t in eligible if t not in state.unhealthy_tiers]
    sick = [t for t in eligible if t in state.unhealthy_tiers]
    if sick and healthy:
        notes.append(f"tried last (recently failed): {', '.join(sick)}")
    ordered = healthy + sick

    inferred_note = ""
    if inferred and classification is not None:
        inferred_note = "inferred " + ", ".join(f"{k}={facts[k].value}" for k in inferred)
        signals = [sig for sig in classification.signals if sig.split("=", 1)[0] in inferred]
        if band_signal is not None:
            signals = [band_signal if sig.startswith("complexity=") else sig for sig in signals]
        if signals:
            inferred_note += " (" + "; ".join(signals) + ")"
    score_note = score.describe() if score is not None else ""
    reason = "; ".join(p for p in [why, score_note, *notes, inferred_note] if p)

    timeout_s = hints.max_latency_ms / 1000 if hints.max_latency_ms is not None else None
    return RouteDecision(
        tier=ordered[0],
        fallbacks=tuple(ordered[1:]),
        reason=reason,
        rule=rule_name,
        task=task,
        complexity=complexity,
        sensitivity=sensitivity,
        inferred=inferred,
        needs=needs,
        excluded=excluded,
        timeout_s=timeout_s,
        score=score.value if score is not None else None,
        scorer=score.scorer if score is not None else None,
        tier_scores=dict(score.tier_scores) if score is not None and score.tier_scores is not None else None,
        deployment=_pinned_deployment(session, ordered[0], profiles) if session is not None else None,
        session=_session_outcome(session, ordered[0], hints, session_note) if session is not None else None,
    )


def _pinned_deployment(session: SessionState, tier: str, profiles: Mapping[str, TierProfile]) -> str | None:
    """Return the deployment of ``tier`` the call keeps: the tool loop's issuer, else the session's.

    Only for a tier with several deployments.
    """
    ids = {d.id for d in profiles[tier].deployments}
    if len(ids) < 2:
        return None
    for dep in ((session.continuation_deployment if session.continuation == tier else None), session.deployment):
        if dep is not None and dep in ids:
            return dep
    return None


def _session_outcome(session: SessionState, tier: str, hints: RouteHints, note: str) -> dict[str, Any]:
    """``{"id", "pinned_tier", "reason"}``: the tier the session holds after this call, and why."""
    pinned = session.pinned_tier
    if session.id is None:
        kept = tier  # a tool loop without a session: it holds the tier it runs on
    elif pinned is None:
        kept = tier
    elif hints.tier is not None:
        kept = pinned
    elif session.affinity == "sticky":
        # a sticky session moves only when it stalls
        kept = tier if session.stall is not None and session.rank(tier) > session.rank(pinned) else pinned
    else:  # escalate_only: up when the call went up (a harder turn, a longer context, a stall), never down
        kept = tier if session.rank(tier) > session.rank(pinned) else pinned
    return {"id": session.id, "pinned_tier": kept, "reason": note}
