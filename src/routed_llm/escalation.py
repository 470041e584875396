"""Escalation, written once: verifiers and the cascade decision loop.

The same code decides when a cheap answer is good enough in three places: the
LangChain and LlamaIndex cascade / retrieval-first chains (live calls), and the
offline replay in `routed_llm.bench.cascade` (recorded answers). Keeping one
implementation is the point: a benchmark that replays a *different* loop than
the one users run would prove nothing.

The loop is deliberately framework-free and I/O-free. It is driven by an
``answer(tier, history)`` callable (live: a routed call; offline: a lookup in
the recorded outcomes) and a `Verifier`. It enforces three rules on every step:

* A tier that the caller does not allow (a non-private tier for a confidential
  question) is never called, even when the verifier asks to escalate; the loop
  ends with the best allowed answer and the trail says why.
* A verifier that raises or returns garbage never causes a silent premium call:
  by default the current answer is kept and the trail records the fault.
* Every tier visited is charged: an escalated question pays for the cheap call.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

from routed_llm.errors import RoutedLLMError

__all__ = [
    "AgreementVerifier",
    "Attempt",
    "CascadeResult",
    "CascadeRun",
    "CascadeStep",
    "EscalationError",
    "JudgeVerifier",
    "LearnedVerifier",
    "LogprobVerifier",
    "OnVerifierError",
    "SelfConfidenceVerifier",
    "Verdict",
    "Verifier",
    "VerifierError",
    "acascade",
    "agreement",
    "cascade",
    "cascade_features",
    "extract_choice",
    "parse_confidence",
]


class EscalationError(RoutedLLMError):
    """A cascade could not produce any answer (e.g. no tier is allowed for this question)."""


class VerifierError(EscalationError):
    """A verifier returned something that is not a verdict; raised only with ``on_verifier_error="raise"``."""


@dataclass(frozen=True)
class Attempt:
    """One tier's answer to the question, with what it cost.

    ``tier`` and ``model`` are the ones that *served* the answer: when the tier the
    cascade asked for fell back, ``requested_tier`` names the one asked for.
    ``confidence`` is the model's own structured confidence when it gave one;
    ``logprobs`` the token log-probabilities when the server returned them.
    """

    tier: str
    text: str
    model: str | None = None
    cost_usd: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    confidence: float | None = None
    logprobs: tuple[float, ...] | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    requested_tier: str | None = None


@dataclass(frozen=True)
class Verdict:
    """A verifier's decision on one attempt.

    ``score`` is the verifier's belief that the answer is right (0..1) when it has
    one; it is what picks the best allowed answer when escalation is blocked.
    ``cost_usd`` / tokens account for verifier calls of their own (a judge).
    """

    accept: bool
    score: float | None = None
    reason: str = ""
    cost_usd: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@runtime_checkable
class Verifier(Protocol):
    """Decides whether an answer is good enough or the question must go up a tier."""

    name: str

    def verify(self, question: str, attempt: Attempt, history: Sequence[Attempt]) -> Verdict:
        """Judge ``attempt`` (``history`` holds the earlier tiers' attempts, cheapest first)."""
        ...


# --------------------------------------------------------------------------- parsing helpers

_CHOICE = re.compile(r"^\W*(?:answer\s*(?:is)?\s*[:\-]?\s*)?\(?([A-E])\b\)?", re.IGNORECASE)
_CONF = re.compile(r"confidence\W{0,3}\s*(?:is\s*)?([01](?:\.\d+)?|\.\d+|\d{1,3}\s*%)", re.IGNORECASE)
_WORD = re.compile(r"[a-z_][a-z0-9_]*")


def extract_choice(text: str) -> str | None:
    """Return the multiple-choice letter an answer starts with ("B", "(c) ...", "Answer: D"), else None."""
    m = _CHOICE.match(text.strip())
    return m.group(1).upper() if m else None


def _tokens(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def agreement(a: str, b: str) -> float:
    """How much two answers agree, 0..1.

    Multiple-choice answers agree when they pick the same letter (1.0 or 0.0);
    free-form answers (code, prose) by the Jaccard overlap of their identifiers,
    which is what survives rephrasing between two models.
    """
    ca, cb = extract_choice(a), extract_choice(b)
    if ca is not None or cb is not None:
        return 1.0 if ca is not None and ca == cb else 0.0
    ta, tb = _tokens(a), _tokens(b)
    if not ta and not tb:
        return 1.0 if a.strip() == b.strip() else 0.0
    return len(ta & tb) / len(ta | tb)


def parse_confidence(text: str) -> float | None:
    """Read a structured confidence from a model reply.

    Accepts a JSON object with a ``confidence`` key or a ``Confidence: 0.8`` /
    ``confidence: 80%`` line. Returns None when there is none or it is out of range.
    """
    value: Any = None
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped).get("confidence")
        except (ValueError, AttributeError):
            value = None
    if value is None:
        m = _CONF.search(text)
        if m is None:
            return None
        raw = m.group(1).replace(" ", "")
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    try:
        conf = float(value)
    except (TypeError, ValueError):
        return None
    return conf if 0.0 <= conf <= 1.0 else None


# --------------------------------------------------------------------------- verifiers


class SelfConfidenceVerifier:
    """Accept when the model's own structured confidence reaches ``threshold``.

    The confidence comes from ``Attempt.confidence`` (set by the chain when it asked
    for one) or is parsed from the answer text. No confidence means escalate: a model
    that cannot say how sure it is has not earned the cheap path.
    """

    name = "self_confidence"

    def __init__(self, threshold: float = 0.7) -> None:
        self.threshold = threshold

    def verify(self, question: str, attempt: Attempt, history: Sequence[Attempt]) -> Verdict:
        """Compare the stated confidence with the threshold."""
        conf = attempt.confidence if attempt.confidence is not None else parse_confidence(attempt.text)
        if conf is None:
            return Verdict(False, None, "no structured confidence in the answer")
        ok = conf >= self.threshold
        return Verdict(ok, conf, f"self-reported confidence {conf:.2f} {'>=' if ok else '<'} {self.threshold}")


class LogprobVerifier:
    """Accept when the answer's mean token probability reaches ``threshold``.

    Works only where the server returns log-probabilities; without them the
    verifier escalates (and says so) rather than guessing.
    """

    name = "logprobs"

    def __init__(self, threshold: float = 0.8) -> None:
        self.threshold = threshold

    def verify(self, question: str, attempt: Attempt, history: Sequence[Attempt]) -> Verdict:
        """Geometric-mean token probability against the threshold."""
        if not attempt.logprobs:
            return Verdict(False, None, "the server returned no log-probabilities")
        p = math.exp(sum(attempt.logprobs) / len(attempt.logprobs))
        ok = p >= self.threshold
        return Verdict(ok, p, f"mean token probability {p:.2f} {'>=' if ok else '<'} {self.threshold}")


class AgreementVerifier:
    """Accept when two answers from cheap tiers agree.

    With an earlier attempt in the history (cheap -> mid), the latest answer is
    compared with the previous one. On the first tier there is nothing to compare
    with: a ``second_opinion`` callable (a second sample from a cheap tier) is used
    when given, otherwise the verifier escalates to obtain one.
    """

    name = "agreement"

    def __init__(
        self,
        threshold: float = 0.5,
        second_opinion: Callable[[str], Attempt] | None = None,
    ) -> None:
        self.threshold = threshold
        self.second_opinion = second_opinion

    def verify(self, question: str, attempt: Attempt, history: Sequence[Attempt]) -> Verdict:
        """Compare with the latest answer from another tier, or with a second sample.

        An earlier answer served by the same tier is no second opinion (a fallback can
        make two steps of a cascade one model), so it is never what agreement is measured against.
        """
        extra = Attempt(tier="", text="")
        others = [h for h in history if h.tier != attempt.tier]
        if others:
            other = others[-1]
        elif self.second_opinion is not None:
            other = extra = self.second_opinion(question)
        else:
            return Verdict(False, None, "no second answer to agree with yet")
        a = agreement(attempt.text, other.text)
        ok = a >= self.threshold
        return Verdict(
            ok,
            a,
            f"agreement with {other.tier or 'a second sample'} {a:.2f} {'>=' if ok else '<'} {self.threshold}",
            cost_usd=extra.cost_usd,
            prompt_tokens=extra.prompt_tokens,
            completion_tokens=extra.completion_tokens,
        )


JUDGE_PROMPT = (
    "You check answers. Question:\n{question}\n\nProposed answer:\n{answer}\n\n"
    "Is the proposed answer correct and complete? Reply with a JSON object "
    '{{"confidence": <number between 0 and 1>}} and nothing else.'
)


class JudgeVerifier:
    """Ask a model on a cheaper tier to grade the answer, and accept above ``threshold``.

    ``judge`` takes the grading prompt and returns the judge's reply as an `Attempt`
    (so its tokens and cost land in the trail). A reply with no readable confidence
    escalates with that reason.
    """

    name = "judge"

    def __init__(self, judge: Callable[[str], Attempt], threshold: float = 0.7, prompt: str = JUDGE_PROMPT) -> None:
        self.judge = judge
        self.threshold = threshold
        self.prompt = prompt

    def verify(self, question: str, attempt: Attempt, history: Sequence[Attempt]) -> Verdict:
        """Grade with the judge model."""
        reply = self.judge(self.prompt.format(question=question, answer=attempt.text))
        conf = reply.confidence if reply.confidence is not None else parse_confidence(reply.text)
        usage = (reply.cost_usd, reply.prompt_tokens, reply.completion_tokens)
        if conf is None:
            return Verdict(False, None, f"judge on {reply.tier or 'judge tier'} gave no confidence", *usage)
        ok = conf >= self.threshold
        return Verdict(ok, conf, f"judge confidence {conf:.2f} {'>=' if ok else '<'} {self.threshold}", *usage)


def cascade_features(
    question: str, attempt: Attempt, history: Sequence[Attempt], *, words: int = 0
) -> dict[str, float]:
    """Cheap features of a question and its answers, for the learned verifier.

    Lengths, answer-format validity, agreement with the previous tier's answer,
    and (with ``words`` > 0) words of the question's last paragraph and of the
    answer hashed into ``words`` buckets. Off by default: on the RouterBench
    training splits the hashed words raised out-of-fold log-loss (they overfit a
    few hundred prompts). Pure Python and deterministic (crc32), so a model
    trained offline on recorded outcomes scores live answers identically.
    """
    text = attempt.text
    f: dict[str, float] = {
        "bias": 1.0,
        "answer_len": math.log1p(len(text)) / 5,
        "question_len": math.log1p(len(question)) / 5,
        "answer_has_choice": float(extract_choice(text) is not None),
        "answer_has_code": float("def " in text or "```" in text),
        "answer_unclosed_code": float(text.count("```") % 2 == 1),
        "step": float(len(history)),
    }
    choice = extract_choice(text)
    if choice is not None:
        f[f"choice={choice}"] = 1.0
    if history:
        prev = history[-1].text
        f["agreement"] = agreement(text, prev)
        f["prev_has_choice"] = float(extract_choice(prev) is not None)
        f["len_ratio"] = min(4.0, (len(text) + 1) / (len(prev) + 1))
    if words > 0:
        for w in _tokens(question.rsplit("\n\n", 1)[-1]):
            f[f"q{zlib.crc32(w.encode()) % words}"] = 1.0
        for w in _tokens(text):
            f[f"a{zlib.crc32(w.encode()) % words}"] = 1.0
    return f


class LearnedVerifier:
    """Logistic regression over `cascade_features`, trained on recorded outcomes.

    ``weights`` map feature names to coefficients for P(answer is correct); one
    weight set per cascade step (0 = first tier), since what "good enough" looks
    like differs between the cheap and the mid tier. A step with no weights
    escalates ("not trained for this step"). Scoring is pure Python, so the
    verifier needs no numpy at run time; `routed_llm.bench.cascade` fits it.
    """

    name = "learned"

    def __init__(
        self,
        weights: Mapping[int, Mapping[str, float]],
        threshold: float | Mapping[int, float],
        *,
        words: int = 0,
    ) -> None:
        self.words = words
        self.weights = {int(k): dict(v) for k, v in weights.items()}
        self.thresholds = threshold if isinstance(threshold, Mapping) else dict.fromkeys(self.weights, threshold)

    def probability(self, question: str, attempt: Attempt, history: Sequence[Attempt]) -> float | None:
        """P(answer correct), or None when this step has no model."""
        w = self.weights.get(len(history))
        if w is None:
            return None
        z = sum(w.get(k, 0.0) * v for k, v in cascade_features(question, attempt, history, words=self.words).items())
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def verify(self, question: str, attempt: Attempt, history: Sequence[Attempt]) -> Verdict:
        """Accept when the predicted probability of being right reaches the step's threshold."""
        p = self.probability(question, attempt, history)
        if p is None:
            return Verdict(False, None, f"learned verifier not trained for step {len(history)}")
        t = self.thresholds.get(len(history), 0.5)
        ok = p >= t
        return Verdict(ok, p, f"learned P(correct) {p:.2f} {'>=' if ok else '<'} {t:.2f}")

    def to_json(self) -> str:
        """Serialise weights and thresholds (to ship a model trained offline)."""
        return json.dumps({"weights": self.weights, "thresholds": self.thresholds, "words": self.words})

    @classmethod
    def from_json(cls, data: str) -> LearnedVerifier:
        """Inverse of `to_json`."""
        obj = json.loads(data)
        return cls(
            {int(k): v for k, v in obj["weights"].items()},
            {int(k): v for k, v in obj["thresholds"].items()},
            words=int(obj.get("words", 0)),
        )


# --------------------------------------------------------------------------- the decision loop

StepAction = Literal["accepted", "escalated", "final", "skipped", "blocked", "error"]


@dataclass(frozen=True)
class CascadeStep:
    """One entry of a trail: a tier called (or not), what the verifier said, what it cost.

    ``tier`` and ``model`` are the ones that served the step; ``requested_tier`` is the
    tier the cascade asked for (the same unless that tier fell back).
    """

    tier: str
    action: StepAction
    reason: str
    model: str | None = None
    score: float | None = None
    cost_usd: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requested_tier: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for metadata and traces."""
        return {
            "tier": self.tier,
            "requested_tier": self.requested_tier or self.tier,
            "action": self.action,
            "reason": self.reason,
            "model": self.model,
            "score": self.score,
            "cost_usd": self.cost_usd,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }


@dataclass
class CascadeResult:
    """The answer a cascade ended with, and the trail of how it got there."""

    answer: Attempt
    trail: list[CascadeStep]
    attempts: list[Attempt]
    outcome: Literal["accepted", "last_tier", "blocked", "verifier_error"]

    @property
    def cost_usd(self) -> float:
        """Everything the cascade spent: every tier visited and every verifier call."""
        return sum(s.cost_usd for s in self.trail)

    @property
    def tiers_called(self) -> list[str]:
        """Tiers that answered, in order."""
        return [a.tier for a in self.attempts]


OnVerifierError = Literal["accept", "escalate", "raise"]


class CascadeRun:
    """The cascade as a state machine: every driver (sync, async, streaming, replay) steps this one.

    Usage::

        run = CascadeRun(question, tiers, verifier, allowed=...)
        while (tier := run.next_tier()) is not None:
            run.record(answer(tier, run.attempts))   # run.is_final_tier tells a driver it may stream
        result = run.result()

    Raises `EscalationError` at construction when no tier is allowed at all.
    """

    def __init__(
        self,
        question: str,
        tiers: Sequence[str],
        verifier: Verifier,
        *,
        allowed: Callable[[str], str | None] | None = None,
        on_verifier_error: OnVerifierError = "accept",
    ) -> None:
        if not tiers:
            raise EscalationError("a cascade needs at least one tier")
        self.question = question
        self.verifier = verifier
        self.tiers = list(tiers)
        self.allowed = allowed or (lambda tier: None)
        self.on_verifier_error = on_verifier_error
        self.trail: list[CascadeStep] = []
        self.attempts: list[Attempt] = []
        self.scores: list[float | None] = []
        self.blocked_reason: str | None = None
        self._runnable = self.runnable()
        self._next = 0
        self._done = False
        self._status = "ok"

    def next_tier(self) -> str | None:
        """Return the tier to call next, or None when the cascade has its answer."""
        if self._done or self._next >= len(self._runnable):
            return None
        return self._runnable[self._next]

    @property
    def is_final_tier(self) -> bool:
        """True when the next tier's answer will be returned whatever the verifier says (drivers may stream it)."""
        return self._next == len(self._runnable) - 1

    @property
    def returns_next(self) -> bool:
        """True when the next tier's answer is certainly the one returned (so a driver may stream it live).

        That is the last tier of the cascade; not the last *allowed* tier when later
        ones were skipped, since a blocked escalation returns the best allowed answer.
        """
        return self.is_final_tier and self._runnable[-1] == self.tiers[-1]

    def record(self, attempt: Attempt) -> bool:
        """Verify the next tier's answer; return True when the cascade is done."""
        if self.next_tier() is None:
            raise EscalationError("the cascade is already finished")
        requested = self._runnable[self._next]
        if attempt.requested_tier is None and attempt.tier != requested:
            attempt = replace(attempt, requested_tier=requested)
        if any(earlier.tier == attempt.tier for earlier in self.attempts):
            # The tier asked for fell back to one already heard from: the same model again
            # is not new evidence, so no verifier may accept it as a second opinion.
            verdict: Any = Verdict(
                False,
                None,
                f"served by tier {attempt.tier!r}, already tried (tier {requested!r} fell back to it): "
                "not new evidence",
            )
        else:
            verdict = _call_verifier(self.verifier, self.question, attempt, list(self.attempts))
        stop, self._status = self.judge(verdict, attempt, self.is_final_tier)
        self._next += 1
        self._done = stop
        return stop

    def result(self) -> CascadeResult:
        """Return the answer the cascade ended with, and its trail."""
        if not self.attempts:
            raise EscalationError("no tier has answered yet")
        return self.finish(self._done, self._status, last_allowed=self._runnable[-1] == self.tiers[-1])

    def runnable(self) -> list[str]:
        """Tiers that may be called, recording the skipped ones (the confidential rule)."""
        out = []
        for t in self.tiers:
            why = self.allowed(t)
            if why is None:
                out.append(t)
            else:
                self.trail.append(CascadeStep(t, "skipped", why))
                self.blocked_reason = self.blocked_reason or why
        if not out:
            raise EscalationError(
                "no tier of the cascade is allowed for this question: "
                + "; ".join(f"{s.tier}: {s.reason}" for s in self.trail)
            )
        return out

    def judge(self, verdict: Any, attempt: Attempt, is_last: bool) -> tuple[bool, Literal["ok", "error"]]:
        """Record the attempt and the verdict; return (stop here?, status)."""
        self.attempts.append(attempt)
        tokens = (attempt.prompt_tokens, attempt.completion_tokens)
        if isinstance(verdict, BaseException) or not isinstance(verdict, Verdict):
            why = (
                f"verifier failed: {type(verdict).__name__}: {verdict}"
                if isinstance(verdict, BaseException)
                else f"verifier returned {type(verdict).__name__} {verdict!r:.80}, not a Verdict"
            )
            if self.on_verifier_error == "raise":
                raise VerifierError(why) from (verdict if isinstance(verdict, BaseException) else None)
            self.scores.append(None)
            escalate = self.on_verifier_error == "escalate" and not is_last
            why += "; escalating as configured" if escalate else "; keeping this answer"
            self.trail.append(
                CascadeStep(
                    attempt.tier, "error", why, attempt.model, None, attempt.cost_usd, *tokens, attempt.requested_tier
                )
            )
            return not escalate, "error"
        score = verdict.score if verdict.score is None or math.isfinite(verdict.score) else None
        self.scores.append(score)

        def step(action: StepAction, reason: str) -> CascadeStep:
            return CascadeStep(
                attempt.tier,
                action,
                reason,
                attempt.model,
                score,
                attempt.cost_usd + verdict.cost_usd,
                tokens[0] + verdict.prompt_tokens,
                tokens[1] + verdict.completion_tokens,
                attempt.requested_tier,
            )

        if verdict.accept:
            self.trail.append(step("accepted", verdict.reason))
            return True, "ok"
        if is_last:
            asked = attempt.requested_tier or attempt.tier
            left = "no tier left to escalate to" if self.tiers[-1] == asked else "no allowed tier left"
            self.trail.append(step("final", f"{verdict.reason}; {left}"))
            return True, "ok"
        self.trail.append(step("escalated", verdict.reason))
        return False, "ok"

    def finish(self, stopped: bool, status: str, last_allowed: bool) -> CascadeResult:
        """Pick the answer to return and the outcome label."""
        if status == "error":
            return CascadeResult(self.attempts[-1], self.trail, self.attempts, "verifier_error")
        if stopped and self.trail[-1].action == "accepted":
            return CascadeResult(self.attempts[-1], self.trail, self.attempts, "accepted")
        if self.blocked_reason is not None and not last_allowed:
            # The verifier wanted a tier the caller forbids: end with the best allowed answer.
            best = max(range(len(self.attempts)), key=lambda i: (self.scores[i] or -1.0, i))
            self.trail.append(
                CascadeStep(
                    self.attempts[best].tier,
                    "blocked",
                    f"escalation blocked ({self.blocked_reason}); returning the best allowed answer",
                    model=self.attempts[best].model,
                    score=self.scores[best],
                    requested_tier=self.attempts[best].requested_tier,
                )
            )
            return CascadeResult(self.attempts[best], self.trail, self.attempts, "blocked")
        return CascadeResult(self.attempts[-1], self.trail, self.attempts, "last_tier")


def _call_verifier(verifier: Verifier, question: str, attempt: Attempt, history: Sequence[Attempt]) -> Any:
    try:
        return verifier.verify(question, attempt, history)
    except Exception as e:  # a broken verifier must not break (or silently escalate) the chain
        return e


def cascade(
    question: str,
    tiers: Sequence[str],
    answer: Callable[[str, Sequence[Attempt]], Attempt],
    verifier: Verifier,
    *,
    allowed: Callable[[str], str | None] | None = None,
    on_verifier_error: OnVerifierError = "accept",
) -> CascadeResult:
    """Run the cascade: answer on each tier in order until the verifier accepts.

    Args:
        question: what is being answered (given to the verifier).
        tiers: tier names, cheapest first.
        answer: ``answer(tier, history)`` returns that tier's `Attempt`.
        verifier: decides accept or escalate after each answer.
        allowed: ``allowed(tier)`` returns None when the tier may be called, else the
            reason it may not (e.g. "confidential question, tier is not private").
        on_verifier_error: what a raising / garbage verifier means: keep the answer
            (default), escalate, or raise `VerifierError`.
    """
    run = CascadeRun(question, tiers, verifier, allowed=allowed, on_verifier_error=on_verifier_error)
    while (tier := run.next_tier()) is not None:
        run.record(answer(tier, list(run.attempts)))
    return run.result()


async def acascade(
    question: str,
    tiers: Sequence[str],
    answer: Callable[[str, Sequence[Attempt]], Awaitable[Attempt]],
    verifier: Verifier,
    *,
    allowed: Callable[[str], str | None] | None = None,
    on_verifier_error: OnVerifierError = "accept",
) -> CascadeResult:
    """Async `cascade` (the answer callable is awaited; verifiers stay synchronous)."""
    run = CascadeRun(question, tiers, verifier, allowed=allowed, on_verifier_error=on_verifier_error)
    while (tier := run.next_tier()) is not None:
        run.record(await answer(tier, list(run.attempts)))
    return run.result()
