"""``routed-llm score``, ``calibrate`` and ``train``: inspect, tune and retrain the routing scorer.

Kept out of ``routed_llm.cli`` so the scoring commands live beside the code they
drive; ``cli.py`` only registers them. None of them calls a model.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import IO, Any

from routed_llm.errors import ConfigError, InvalidRequest
from routed_llm.scoring import Scorer, open_scorer
from routed_llm.scoring.calibration import calibrate_threshold
from routed_llm.scoring.inputs import PromptLine, read_outcomes, read_prompts

__all__ = ["SAMPLE_NAME", "add_parsers", "bundled_sample"]

SAMPLE_NAME = "calibration_sample.jsonl"
"""300 public prompts mixed like typical traffic (open instructions, chat, QA, maths, code, multiple choice).

See ``scripts/build_calibration_sample.py``.
"""


def bundled_sample() -> Path:
    """Path of the calibration sample shipped in the package."""
    return Path(str(resources.files("routed_llm.scoring") / "data" / SAMPLE_NAME))


@contextmanager
def _open_input(path: str) -> Iterator[tuple[IO[str], str]]:
    if path == "-":
        yield sys.stdin, "stdin"
        return
    try:
        with open(path, encoding="utf-8") as f:
            yield f, path
    except FileNotFoundError:
        raise InvalidRequest(f"no such file: {path}") from None


def _scorer_spec(args: argparse.Namespace) -> str:
    """``--scorer``, else the config's ``routing.scorer``, else the embedded default config's."""
    if args.scorer:
        return str(args.scorer)
    if args.config:
        from routed_llm.config import load_config

        return load_config(args.config).routing.scorer
    from routed_llm.defaults import DEFAULT_CONFIG

    return str(DEFAULT_CONFIG["routing"].get("scorer", "heuristic"))


def _score_lines(scorer: Scorer, prompts: Sequence[PromptLine]) -> Iterator[tuple[PromptLine, dict[str, Any]]]:
    for prompt in prompts:
        yield prompt, scorer.score(prompt.messages).as_dict()


def _score(args: argparse.Namespace) -> int:
    scorer = open_scorer(_scorer_spec(args))
    with _open_input(args.input) as (stream, source):
        prompts = list(read_prompts(stream, source=source))  # every line validated before any output
    out = sys.stdout
    for prompt, result in _score_lines(scorer, prompts):
        row: dict[str, Any] = {"line": prompt.line}
        if prompt.id is not None:
            row["id"] = prompt.id
        row.update(result)
        out.write(json.dumps(row) + "\n")
    out.flush()
    return 0


def _premium_tier(args: argparse.Namespace) -> str:
    if args.tier:
        return str(args.tier)
    if args.config:
        from routed_llm.config import load_config

        return list(load_config(args.config).tiers)[-1]  # tiers are listed cheapest first
    return "premium"


def _calibrate(args: argparse.Namespace) -> int:
    spec = _scorer_spec(args)
    scorer = open_scorer(spec)
    sample = args.prompts or str(bundled_sample())
    with _open_input(sample) as (stream, source):
        prompts = list(read_prompts(stream, source=source))
    if not prompts:
        raise InvalidRequest(f"{sample}: holds no prompts to calibrate on")
    scores = [scorer.score(p.messages).value for p in prompts]
    try:
        cal = calibrate_threshold(scores, args.premium_share)
    except ValueError as e:
        raise InvalidRequest(f"--premium-share: {e}") from None
    tier = _premium_tier(args)
    described = "the bundled sample of public benchmark prompts" if not args.prompts else sample
    print(
        f"# routed-llm calibrate: {cal.share:.1%} of {cal.n} prompts ({described}) score over"
        f" {cal.threshold} with scorer {scorer.name} (asked for {cal.target:.1%})\n"
        "routing:\n"
        f"  scorer: {spec}\n"
        "  rules:  # put it after your hard-constraint rules, before the others\n"
        f"    - name: calibrated-premium-{round(cal.target * 100)}pct\n"
        f"      when: {{score_over: {cal.threshold}}}\n"
        f"      tier: {tier}"
    )
    return 0


def _train(args: argparse.Namespace) -> int:
    tiers = [t.strip() for t in args.tiers.split(",") if t.strip()] if args.tiers else None
    with _open_input(args.data) as (stream, source):
        outcomes = read_outcomes(stream, tiers=tiers, source=source)
    try:
        import numpy as np

        from routed_llm.scoring import train_scorer
    except ImportError as e:
        raise ConfigError(f"  - routed-llm train needs numpy and the learned scorer ({e})") from e
    scorer = train_scorer(
        outcomes.texts,
        np.asarray(outcomes.quality, dtype=float),
        outcomes.tier_names,
        cost=np.asarray(outcomes.cost, dtype=float) if outcomes.cost is not None else None,
        name=Path(args.out).stem,
    )
    scorer.save(args.out)
    print(
        f"trained {scorer.name} on {len(outcomes.texts)} rows, tiers {', '.join(outcomes.tier_names)}"
        f" (cheapest first); wrote {args.out}\n"
        f"use it with:  routing: {{scorer: {args.out}}}"
    )
    return 0


def add_parsers(sub: Any) -> None:
    """Register ``score``, ``calibrate`` and ``train`` on the ``routed-llm`` subparsers."""
    scorer_help = "heuristic, learned, or a scorer file (default: the config's routing.scorer)"
    score = sub.add_parser("score", help="print the routing score of each prompt as JSON lines")
    score.add_argument("input", nargs="?", default="-", help="prompts: JSON lines (prompt / messages) or plain text")
    score.add_argument("--config", "-c", default=None, help="routing YAML whose routing.scorer to use")
    score.add_argument("--scorer", default=None, help=scorer_help)
    score.set_defaults(func=lambda args, console: _score(args))

    calibrate = sub.add_parser("calibrate", help="the score threshold that sends a share of traffic to premium")
    calibrate.add_argument(
        "--premium-share", type=float, required=True, help="share of calls for the premium tier, e.g. 0.3"
    )
    calibrate.add_argument("--prompts", default=None, help="a sample of your traffic (default: bundled public prompts)")
    calibrate.add_argument("--config", "-c", default=None, help="routing YAML (its scorer and dearest tier)")
    calibrate.add_argument("--scorer", default=None, help=scorer_help)
    calibrate.add_argument("--tier", default=None, help="premium tier name (default: the config's last tier)")
    calibrate.set_defaults(func=lambda args, console: _calibrate(args))

    train = sub.add_parser("train", help="fit a learned scorer on your own outcomes")
    train.add_argument("--data", required=True, help="outcomes JSON lines: prompt|messages, quality, [cost]")
    train.add_argument("--out", required=True, help="scorer file to write, e.g. scorer.npz")
    train.add_argument("--tiers", default=None, help="tiers cheapest first, e.g. local,fast,premium")
    train.set_defaults(func=lambda args, console: _train(args))
