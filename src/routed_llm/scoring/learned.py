"""The learned routing scorer: a static prompt embedding, hashed n-grams and a small trained head, in numpy.

Why this shape: a routing decision has to be cheap (p99 well under the 20 ms
budget on two CPU cores) and must not pull torch into the process. A *static*
embedding (one vector per token of MiniLM's vocabulary, distilled offline from
all-MiniLM-L6-v2 with model2vec, then weighted and mean-pooled) costs a
tokenizer pass and a table lookup; hashed word and character n-grams add the
exact wording the mean blurs, and ten hand features the prompt's shape (length,
quantities, operators). Linear heads on top predict how much a prompt needs the
strong tier -- format 3: the base rate of its *kind* of task plus its gain within
that kind (`fit_mixed_head`), so a mixed stream is ranked across kinds -- and each
reference tier's chance of success, through a calibration curve.

Everything the scorer needs lives in one ``.npz`` file (tokenizer, token table,
head weights, training metadata), versioned by ``FORMAT_VERSION``. The default
file ships in the wheel (``routed_llm/scoring/data/default_scorer.npz``); it is
built by ``scripts/train_default_scorer.py`` from public outcome data only.
``train_scorer`` refits the head on a user's own outcomes, keeping the
embedding (``routed-llm train``).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from routed_llm.classify.heuristic import content_texts
from routed_llm.errors import ConfigError, InvalidRequest
from routed_llm.scoring.base import Score

if TYPE_CHECKING:  # numpy and tokenizers are imported when a learned scorer is loaded, not before
    import numpy as np
    from tokenizers import Tokenizer

__all__ = [
    "FORMAT_VERSION",
    "HASHED_DIMS",
    "MAX_TOKENS",
    "LearnedScorer",
    "default_scorer_path",
    "expected_gain",
    "fit_mixed_head",
    "fit_scoring_head",
    "calibration_curve",
    "isotonic",
    "rasch",
    "hashed_ngrams",
    "item_difficulty",
    "prompt_text",
    "train_scorer",
]

#: Version of the scorer file layout; a file of another version is refused with a clear error.
#: 2 added the hashed n-gram block to the features; 3 the per-tier calibration curves
#: (``tier_calibration_x`` / ``_y``) and the mixed-traffic head (`fit_mixed_head`). Version 2
#: files still load (their tier predictions are clipped, as before).
FORMAT_VERSION = 3
READABLE_VERSIONS = (2, 3)

#: Tokens of the prompt the embedding reads. Longer prompts are truncated: the first
#: ``MAX_TOKENS // 2`` and the last ``MAX_TOKENS // 2`` tokens are kept, since a long
#: prompt's instructions sit at its start and its question usually at its end.
MAX_TOKENS = 512

#: Characters of a long prompt the scorer reads: the first and last ``MAX_CHARS // 2``. Far more
#: than ``MAX_TOKENS`` tokens' worth, so the token window is unchanged; it bounds the tokenizer's
#: and the hand features' work on huge prompts (length features still count the whole text).
MAX_CHARS = 6000


def default_scorer_path() -> Path:
    """Path of the scorer file shipped in the wheel."""
    return Path(str(resources.files("routed_llm.scoring") / "data" / "default_scorer.npz"))


def prompt_text(messages: Sequence[Mapping[str, Any]] | str) -> str:
    """Return the text a scorer reads: the last user message (after the system prompt, if any).

    Earlier turns are left out on purpose: what decides whether a cheap model
    copes is the request being answered now, and the training data holds
    single-turn prompts.
    """
    if isinstance(messages, str):
        return messages
    system = ""
    last_user = ""
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        text = _content_text(message.get("content"))
        role = message.get("role")
        if role in ("system", "developer") and not system:
            system = text
        elif role == "user" and text:
            last_user = text
    if not last_user:  # no user text: fall back to the last message that has any
        for message in reversed(messages):
            if isinstance(message, Mapping) and (text := _content_text(message.get("content"))):
                last_user = text
                break
    return f"{system}\n\n{last_user}" if system and last_user else last_user or system


def _content_text(content: Any) -> str:
    return "\n".join(content_texts(content))


# --- hand-written prompt features ------------------------------------------------------------
# Surface statistics a bag of token vectors cannot see: how long the prompt is, how many
# quantities, operators and quantity words it holds (multi-step arithmetic), how many
# sentences there are. Length alone ranks GSM8K prompts better than the embedding does.

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_OPERATOR = re.compile(r"[=+\-*/^<>%]")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
_LATEX = re.compile(r"\$|\\[a-zA-Z]+|\^|_\{")
_NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten twice half double triple thrice quarter third dozen".split()
)
_QUANTITY_WORDS = frozenset("each per every times more less than total remaining left rest after before".split())

HAND_FEATURES = (
    "log_chars",
    "log_words",
    "log_numbers",
    "digit_share",
    "log_operators",
    "log_sentences",
    "log_latex",
    "log_max_number",
    "log_number_words",
    "log_quantity_words",
)
# Left out on purpose, by the same cross-validation: newline and question-mark counts, distinct
# words and mean word length. They mostly tell one benchmark's *format* from another's (MMLU's
# options sit on separate lines), and a one-line chat prompt then looked "hard" (``hi``: 0.69).


def clip_text(text: str) -> tuple[str, float]:
    """``(text, 1.0)``, or for a text longer than `MAX_CHARS` its head and tail and the factor it was cut by."""
    if len(text) <= MAX_CHARS:
        return text, 1.0
    half = MAX_CHARS // 2
    return text[:half] + "\n" + text[-half:], len(text) / (2 * half)


def hand_features(text: str) -> list[float]:
    """Compute the `HAND_FEATURES` of one text, in that order (a long text is read through `clip_text`)."""
    full_length = len(text)
    text, cut = clip_text(text)
    words = text.split()
    numbers = _NUMBER.findall(text)
    values = [float(n.replace(",", "")) for n in numbers if n.replace(",", "").replace(".", "", 1).isdigit()]
    lowered = [w.strip(".,?!;:").lower() for w in words]
    return [
        math.log1p(full_length),
        math.log1p(len(words) * cut),
        math.log1p(len(numbers)),
        sum(c.isdigit() for c in text) / max(1, len(text)),
        math.log1p(len(_OPERATOR.findall(text))),
        math.log1p(len(_SENTENCE_END.findall(text))),
        math.log1p(len(_LATEX.findall(text))),
        math.log1p(min(max(values, default=0.0), 1e300)),
        math.log1p(sum(w in _NUMBER_WORDS for w in lowered)),
        math.log1p(sum(w in _QUANTITY_WORDS for w in lowered)),
    ]


# --- hashed n-grams ------------------------------------------------------------------------------
# The exact words and character runs of a prompt, which a mean of token vectors blurs: "prove",
# "def ", "which of the following". Hashed into a fixed number of signed buckets (the hashing
# trick) with zlib's CRC-32, so the features need no vocabulary file and no scikit-learn, and are
# the same on every platform and Python version.

#: Buckets of the hashed n-gram block (chosen by cross-validation with 1024 and 3-character grams).
HASHED_DIMS = 1024
#: Length of the hashed character n-grams (run over the lower-cased words joined by single spaces).
HASHED_CHAR_N = 3
_HASHED_WORD = re.compile(r"[a-z0-9]+")


def hashed_ngrams(text: str, dims: int = HASHED_DIMS) -> np.ndarray:
    """Hash a text's words, word pairs and character 3-grams into ``dims`` signed buckets.

    Each gram adds +1 or -1 (the sign from the hash's top bit, so unrelated grams
    sharing a bucket tend to cancel rather than pile up) to bucket ``crc32 % dims``;
    the counts are squashed with ``sign * log1p(|v|)`` and the vector scaled to unit
    length, so a long prompt does not outweigh a short one. Words are ASCII
    letters and digits: other scripts leave this block (near) empty and are read
    by the embedding alone.
    """
    import numpy as np

    words = _HASHED_WORD.findall(clip_text(text)[0].lower())
    joined = " ".join(words)
    grams = [
        *words,
        *(f"{a} {b}" for a, b in zip(words, words[1:], strict=False)),
        *(f"#{joined[i : i + HASHED_CHAR_N]}" for i in range(len(joined) - HASHED_CHAR_N + 1)),
    ]
    counts = [0.0] * dims
    for gram in grams:
        h = zlib.crc32(gram.encode())
        counts[h % dims] += 1.0 if h >> 31 else -1.0
    v = np.asarray(counts)
    v = np.sign(v) * np.log1p(np.abs(v))
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def embedding_features(embedding: StaticEmbedding, texts: Sequence[str], hashed_dims: int = HASHED_DIMS) -> np.ndarray:
    """``[n, dims + hashed_dims + len(HAND_FEATURES)]``: each text's static embedding, hashed n-grams, hand features."""
    import numpy as np

    emb = embedding.embed(texts).astype(np.float64)
    hashed = np.array([hashed_ngrams(t, hashed_dims) for t in texts], dtype=np.float64).reshape(len(texts), hashed_dims)
    hand = np.array([hand_features(t) for t in texts], dtype=np.float64).reshape(len(texts), len(HAND_FEATURES))
    return np.hstack([emb, hashed, hand])


# --- the model ---------------------------------------------------------------------------------


@dataclass
class StaticEmbedding:
    """Token table + tokenizer: text -> L2-normalised mean of its token vectors.

    The table was distilled from all-MiniLM-L6-v2 with model2vec (each vocabulary
    token through the transformer once, PCA, Zipf weighting), so a prompt's
    embedding is a table lookup: no transformer runs at decision time.
    """

    tokenizer: Tokenizer
    table: np.ndarray
    """``[vocab, dims]`` float32."""
    max_tokens: int = MAX_TOKENS

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` into ``[n, dims]`` float32 rows of unit length (zero for a text with no tokens)."""
        import numpy as np

        encodings = self.tokenizer.encode_batch([clip_text(t)[0] for t in texts], add_special_tokens=False)
        out = np.zeros((len(texts), self.table.shape[1]), dtype=np.float32)
        half = self.max_tokens // 2
        for i, encoding in enumerate(encodings):
            ids = encoding.ids
            if len(ids) > self.max_tokens:
                ids = ids[:half] + ids[-half:]
            if ids:
                out[i] = self.table[ids].mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


@dataclass
class LinearHead:
    """Standardised features -> one linear output per target (the gain, then each tier's success).

    A ridge regression, fitted in closed form: deterministic, no optimiser to
    tune, and refittable on a user's few hundred outcomes in well under a second.
    """

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    """``[features, 1 + tiers]``."""
    bias: np.ndarray
    """``[1 + tiers]``."""

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Raw outputs ``[n, 1 + tiers]``: column 0 the gain, then each tier's success."""
        return ((features - self.mean) / self.scale) @ self.weights + self.bias


#: Ridge penalties, per feature, as a multiple of the (weighted) row count / 1000. The
#: embedding's 256 dimensions get a strong penalty, the 1024 hashed n-gram buckets a stronger
#: one, the 10 hand features a light one; chosen by cross-validation on the public training
#: data (scripts/train_default_scorer.py).
EMBEDDING_PENALTY = 1000.0
HASHED_PENALTY = 10000.0
HAND_PENALTY = 3.0

#: The difficulty head (see `fit_scoring_head`): its penalties, and its share of the score.
DIFFICULTY_EMBEDDING_PENALTY = 10000.0
DIFFICULTY_HASHED_PENALTY = 30000.0
DIFFICULTY_WEIGHT = 0.5

#: Penalties of the kind head (embedding, hashed n-grams), the within head, and the tier heads;
#: the within head's share of the score. Chosen by mixed-traffic cross-validation
#: (scripts/train_default_scorer.py; figures in the README's learned-routing section).
KIND_PENALTIES = (100.0, 1000.0)
WITHIN_PENALTIES = (3000.0, 30000.0)
TIER_PENALTIES = (1000.0, 10000.0)
WITHIN_WEIGHT = 1.0
#: Rows weigh ``size_of_their_data_set ** -GROUP_WEIGHT_POWER``: 1 weighs every data set alike.
GROUP_WEIGHT_POWER = 1.0
#: Knots of each tier's calibration curve.
CALIBRATION_KNOTS = 33


class LearnedScorer:
    """Routing score from a static prompt embedding, hand features and a ridge head.

    The head predicts, for a prompt, how much it needs the strong reference tier:
    the *gain* of the strong tier over the cheap one (the chance the strong tier
    answers well where the cheap one does not, minus the reverse), blended with the
    prompt's difficulty for many models when the training data had it (see
    `fit_scoring_head`), and each reference tier's chance of success. ``score``
    is that prediction's percentile among the training prompts, so it lies in
    [0, 1] and reads as "harder than this share of typical prompts": a rule
    ``score_over: 0.7`` sends roughly the hardest 30% of training-like traffic on,
    and ``routed-llm calibrate`` re-centres it on your own traffic.
    ``tier_scores`` are the predicted success rates: through each tier's calibration
    curve (format 3), else clipped to [0, 1].
    """

    def __init__(
        self,
        *,
        embedding: StaticEmbedding,
        head: LinearHead,
        tier_names: Sequence[str],
        gain_quantiles: np.ndarray,
        meta: Mapping[str, Any] | None = None,
        calibration: tuple[np.ndarray, np.ndarray] | None = None,
        version: int = FORMAT_VERSION,
    ) -> None:
        self._embedding = embedding
        self._head = head
        self.tier_names: tuple[str, ...] = tuple(tier_names)
        self._quantiles = gain_quantiles
        self._calibration = calibration
        self.meta: dict[str, Any] = dict(meta or {})
        self.hashed_dims = int(self.meta.get("hashed_dims", HASHED_DIMS))
        self.version = version
        self.name = f"learned:{self.meta.get('name', 'custom')}@{version}"

    # -- loading and saving ---------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> LearnedScorer:
        """Load a scorer file; ``None`` loads the one shipped in the wheel.

        Raises:
            ConfigError: the file is missing, unreadable, corrupt or of another format version.
        """
        import numpy as np
        from tokenizers import Tokenizer

        file = Path(path) if path is not None else default_scorer_path()
        label = f"  - routing.scorer: scorer file {str(file)!r}"
        if not file.is_file():
            raise ConfigError(f"{label} does not exist; pass a file written by `routed-llm train`, or use learned")
        try:
            with np.load(file, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise ConfigError(
                f"{label} is not a readable scorer file ({e}); re-create it with `routed-llm train`"
            ) from e
        if "format_version" not in arrays:
            raise ConfigError(f"{label} is not a routed-llm scorer file (no format_version)")
        version = int(arrays["format_version"])
        if version not in READABLE_VERSIONS:
            raise ConfigError(
                f"{label} has format version {version}; this routed-llm reads versions "
                f"{', '.join(map(str, READABLE_VERSIONS))}. Re-create it with `routed-llm train`."
            )
        try:
            meta = json.loads(bytes(arrays["meta"]).decode("utf-8"))
            tokenizer = Tokenizer.from_str(bytes(arrays["tokenizer"]).decode("utf-8"))
            # int8 rows with a float scale each: a quarter of float32's size, scores unchanged to ~1e-3
            table = arrays["token_table"].astype(np.float32) * arrays["token_scale"].astype(np.float32)[:, None]
            head = LinearHead(
                mean=arrays["feature_mean"].astype(np.float64),
                scale=arrays["feature_scale"].astype(np.float64),
                weights=arrays["weights"].astype(np.float64),
                bias=arrays["bias"].astype(np.float64),
            )
            tier_names = [str(t) for t in meta["tier_names"]]
            quantiles = arrays["gain_quantiles"].astype(np.float64)
            hashed_dims = int(meta.get("hashed_dims", -1))
            if hashed_dims < 0:
                raise ValueError("no hashed_dims in its metadata")
            n_features = table.shape[1] + hashed_dims + len(HAND_FEATURES)
            if head.mean.shape != (n_features,) or head.weights.shape != (n_features, 1 + len(tier_names)):
                raise ValueError(
                    f"head of shape {head.weights.shape} does not fit {n_features} features and {len(tier_names)} tiers"
                )
            if list(meta.get("hand_features", [])) != list(HAND_FEATURES):
                raise ValueError(f"hand features {meta.get('hand_features')} differ from this version's")
            if quantiles.ndim != 1 or len(quantiles) < 2 or not np.all(np.diff(quantiles) >= 0):
                raise ValueError("gain_quantiles must be an ascending list")
            calibration = None
            if version >= 3:
                cal_x = arrays["tier_calibration_x"].astype(np.float64)
                cal_y = arrays["tier_calibration_y"].astype(np.float64)
                if cal_x.shape != cal_y.shape or cal_x.ndim != 2 or cal_x.shape[0] != len(tier_names):
                    raise ValueError(f"tier calibration of shape {cal_x.shape} does not fit {len(tier_names)} tiers")
                if not np.all(np.diff(cal_x, axis=1) >= 0):
                    raise ValueError("tier_calibration_x rows must ascend")
                calibration = (cal_x, cal_y)
        except Exception as e:  # any missing key, bad JSON, bad tokenizer or shape is the same failure
            raise ConfigError(
                f"{label} is corrupt ({type(e).__name__}: {e}); re-create it with `routed-llm train`"
            ) from e
        return cls(
            embedding=StaticEmbedding(tokenizer, table, int(meta.get("max_tokens", MAX_TOKENS))),
            head=head,
            tier_names=tier_names,
            gain_quantiles=quantiles,
            meta=meta,
            calibration=calibration,
            version=version,
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the scorer as one ``.npz`` file (to a temporary file first, then renamed: never half-written)."""
        import numpy as np

        table = self._embedding.table
        row_scale = np.abs(table).max(axis=1) / 127.0
        row_scale[row_scale == 0] = 1.0
        quantized = np.round(table / row_scale[:, None]).astype(np.int8)
        meta = {
            **self.meta,
            "tier_names": list(self.tier_names),
            "max_tokens": self._embedding.max_tokens,
            "hashed_dims": self.hashed_dims,
            "hand_features": list(HAND_FEATURES),
        }
        arrays: dict[str, Any] = {
            "format_version": np.array(FORMAT_VERSION),  # saving writes the current layout
            "meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
            "tokenizer": np.frombuffer(self._embedding.tokenizer.to_str().encode("utf-8"), dtype=np.uint8),
            "token_table": quantized,
            "token_scale": row_scale.astype(np.float32),
            "feature_mean": self._head.mean.astype(np.float32),
            "feature_scale": self._head.scale.astype(np.float32),
            "weights": self._head.weights.astype(np.float32),
            "bias": self._head.bias.astype(np.float32),
            "gain_quantiles": self._quantiles.astype(np.float32),
        }
        if self._calibration is not None:
            arrays["tier_calibration_x"] = self._calibration[0].astype(np.float32)
            arrays["tier_calibration_y"] = self._calibration[1].astype(np.float32)
        else:  # a format-3 file always carries curves: the identity, i.e. clipping
            n_tiers = len(self.tier_names)
            arrays["tier_calibration_x"] = np.tile(np.linspace(0, 1, 2, dtype=np.float32), (n_tiers, 1))
            arrays["tier_calibration_y"] = arrays["tier_calibration_x"].copy()
        target = Path(path)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(buffer.getvalue())
        os.replace(tmp, target)

    # -- scoring ------------------------------------------------------------------------------

    @property
    def embedding(self) -> StaticEmbedding:
        """The static embedding (shared by scorers refitted from this one)."""
        return self._embedding

    def features(self, texts: Sequence[str]) -> np.ndarray:
        """Return the head's input for each text: the static embedding, hashed n-grams, hand features."""
        return embedding_features(self._embedding, texts, self.hashed_dims)

    def predict(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(score [n], tier success [n, tiers])`` for each text."""
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise InvalidRequest(f"prompt {i}: expected non-empty text to score, got {text!r:.60}")
        return self.predict_features(self.features(texts))

    def predict_features(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`predict` from rows of `features` already computed."""
        import numpy as np

        raw = self._head.predict(features)
        grid = np.linspace(0.0, 1.0, len(self._quantiles))
        score = np.interp(raw[:, 0], self._quantiles, grid)
        tiers = np.clip(raw[:, 1:], 0.0, 1.0)
        if self._calibration is not None:
            cal_x, cal_y = self._calibration
            for j in range(tiers.shape[1]):
                tiers[:, j] = np.interp(raw[:, 1 + j], cal_x[j], cal_y[j])
        return score, tiers

    def score_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Return the routing score of each text, shape ``[n]``."""
        return self.predict(texts)[0]

    def score(self, messages: Sequence[Mapping[str, Any]]) -> Score:
        """Score one call's OpenAI-format messages (see `prompt_text` for what is read)."""
        text = prompt_text(messages)
        if not text.strip():
            raise InvalidRequest("the call has no text to score (every message is empty)")
        score, tiers = self.predict([text])
        return Score(
            value=float(score[0]),
            scorer=self.name,
            tier_scores={name: float(p) for name, p in zip(self.tier_names, tiers[0], strict=True)},
        )


# --- training ----------------------------------------------------------------------------------


def fit_head(
    features: np.ndarray,
    targets: np.ndarray,
    *,
    n_embedding: int,
    n_hashed: int = 0,
    groups: np.ndarray | None = None,
    group_weight_power: float = 0.0,
    embedding_penalty: float = EMBEDDING_PENALTY,
    hashed_penalty: float = HASHED_PENALTY,
    hand_penalty: float = HAND_PENALTY,
    intercept_of: Any = None,
) -> LinearHead:
    """Fit the ridge head, one output per column of ``targets`` (NaN = unknown, left out of that output).

    Args:
        features: ``[n, f]``: the embedding's columns, then the hashed n-grams', then the hand features'.
        n_embedding: how many of the columns are the embedding (penalised by ``embedding_penalty``).
        n_hashed: how many columns after them are hashed n-grams (penalised by ``hashed_penalty``);
            the rest, the hand features, by ``hand_penalty``.
        targets: ``[n, outputs]``.
        groups: a data-set id per row. Each group gets its own unpenalised intercept
            while fitting, so the weights learn what makes a prompt hard *within* a
            data set rather than which data set it came from; the intercept used at
            inference is their weighted mean.
        group_weight_power: rows weigh ``size_of_their_group ** -power``: 0 weighs
            every row alike, 1 every group alike.
        embedding_penalty: ridge penalty of each embedding column (see `EMBEDDING_PENALTY`).
        hashed_penalty: ridge penalty of each hashed n-gram column.
        hand_penalty: ridge penalty of each hand-feature column.
        intercept_of: predict with this group's own intercept instead of their mean
            (for a head that serves one known data set).

    Outputs with the same known rows share one solve (the usual case: every column known).
    """
    import numpy as np

    n, f = features.shape
    groups = np.zeros(n, dtype=int) if groups is None else np.asarray(groups)
    names, ids = np.unique(groups, return_inverse=True)
    sizes = np.bincount(ids)
    row_weight = sizes[ids].astype(np.float64) ** -group_weight_power
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale < 1e-9] = 1.0
    x = (features - mean) / scale
    penalty = np.r_[
        np.full(n_embedding, embedding_penalty),
        np.full(n_hashed, hashed_penalty),
        np.full(f - n_embedding - n_hashed, hand_penalty),
    ]
    onehot = np.eye(len(names))[ids]
    weights = np.zeros((f, targets.shape[1]))
    bias = np.zeros(targets.shape[1])
    by_known: dict[bytes, list[int]] = {}
    for j in range(targets.shape[1]):
        by_known.setdefault((~np.isnan(targets[:, j])).tobytes(), []).append(j)
    for cols in by_known.values():
        known = ~np.isnan(targets[:, cols[0]])
        if not known.any():
            raise InvalidRequest(f"outcome column {cols[0]} has no known values")
        w = row_weight[known] / row_weight[known].mean()
        z = np.hstack([x[known], onehot[known]])
        reg = np.r_[penalty, np.zeros(len(names))] * known.sum() / 1000.0
        zw = z * w[:, None]
        coef = np.linalg.solve(zw.T @ z + np.diag(reg) + 1e-9 * np.eye(z.shape[1]), zw.T @ targets[known][:, cols])
        weights[:, cols] = coef[:f]
        present = onehot[known].T @ w  # weight of each group among the known rows
        if intercept_of is not None and present[list(names).index(intercept_of)] > 0:
            bias[cols] = coef[f + list(names).index(intercept_of)]
        else:
            bias[cols] = coef[f:].T @ present / present.sum()
    return LinearHead(mean=mean, scale=scale, weights=weights, bias=bias)


def item_difficulty(outcomes: np.ndarray, *, prior_sd: float = 1.5, iterations: int = 200) -> np.ndarray:
    """Return each item's difficulty under a one-parameter IRT (Rasch) model of many models' 0/1 outcomes.

    ``P(model m solves item i) = sigmoid(ability_m - difficulty_i)``, fitted by
    alternating Newton steps with a normal prior on the difficulties (so an item
    every model solves gets a finite, low difficulty). With eleven models per
    prompt this is a far less noisy "how hard is it" than one pair of models'
    outcomes: it is the difficulty head's target (see `fit_scoring_head`).

    Args:
        outcomes: ``[items, models]`` of 0/1, NaN where a model has no record.
        prior_sd: standard deviation of the difficulties' normal prior.
        iterations: alternating Newton steps (200 converge on RouterBench's splits).

    Returns:
        ``[items]``, higher is harder.
    """
    return rasch(outcomes, prior_sd=prior_sd, iterations=iterations)[0]


def rasch(outcomes: np.ndarray, *, prior_sd: float = 1.5, iterations: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """``(difficulty [items], ability [models])`` of the Rasch model `item_difficulty` describes.

    Graded outcomes in [0, 1] (F1, a judge's preference, a rescaled rating) are read as
    fractional successes: the same likelihood equations, so one routine serves every set.
    """
    import numpy as np

    known = ~np.isnan(outcomes)
    solved = np.nan_to_num(outcomes)
    difficulty = np.zeros(outcomes.shape[0])
    ability = np.zeros(outcomes.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(ability[None, :] - difficulty[:, None])))
        ability += ((solved - p) * known).sum(0) / ((p * (1 - p) * known).sum(0) + 1e-9)
        p = 1.0 / (1.0 + np.exp(-(ability[None, :] - difficulty[:, None])))
        residual = ((solved - p) * known).sum(1)
        curvature = (p * (1 - p) * known).sum(1)
        difficulty += (-residual - difficulty / prior_sd**2) / (curvature + 1 / prior_sd**2)
    return difficulty, ability


def fit_scoring_head(
    features: np.ndarray,
    targets: np.ndarray,
    *,
    n_embedding: int,
    n_hashed: int = 0,
    difficulty: np.ndarray | None = None,
    difficulty_weight: float = DIFFICULTY_WEIGHT,
    groups: np.ndarray | None = None,
    group_weight_power: float = 0.0,
    embedding_penalty: float = EMBEDDING_PENALTY,
    hashed_penalty: float = HASHED_PENALTY,
    hand_penalty: float = HAND_PENALTY,
) -> LinearHead:
    """Fit the scorer's head: column 0 ranks prompts, the others predict each tier's success.

    Column 0 is the predicted gain (``targets[:, 0]``). With ``difficulty`` (an item
    difficulty per row, NaN where unknown; see `item_difficulty`) a second ridge head
    learns it, and column 0 becomes the mean of both predictions, each standardised
    over the training rows, weighted ``1 - difficulty_weight`` and ``difficulty_weight``.
    Why: the gain of one model over another is a noisy 0/1 difference; how hard a
    prompt is for many models is a smoother signal that carries to data sets the
    scorer never saw (leave-one-data-set-out APGR +0.014, in-set +0.017 with the
    embedding alone; research notes in scripts/train_default_scorer.py). Both heads
    share the feature standardisation, so the blend folds into column 0's weights
    and inference is unchanged.
    """
    import numpy as np

    common: dict[str, Any] = {
        "n_embedding": n_embedding,
        "n_hashed": n_hashed,
        "groups": groups,
        "group_weight_power": group_weight_power,
        "hand_penalty": hand_penalty,
    }
    head = fit_head(features, targets, embedding_penalty=embedding_penalty, hashed_penalty=hashed_penalty, **common)
    if difficulty is None or np.isnan(difficulty).all() or difficulty_weight <= 0:
        return head
    hard = fit_head(
        features,
        np.asarray(difficulty, dtype=np.float64).reshape(-1, 1),
        embedding_penalty=DIFFICULTY_EMBEDDING_PENALTY,
        hashed_penalty=DIFFICULTY_HASHED_PENALTY,
        **common,
    )
    weights, bias = head.weights.copy(), head.bias.copy()
    weights[:, 0] = 0.0
    bias[0] = 0.0
    for part, share in ((head, 1.0 - difficulty_weight), (hard, difficulty_weight)):
        fitted = part.predict(features)[:, 0]
        centre, spread = float(fitted.mean()), float(fitted.std()) or 1.0
        weights[:, 0] += share * part.weights[:, 0] / spread
        bias[0] += share * (part.bias[0] - centre) / spread
    return LinearHead(mean=head.mean, scale=head.scale, weights=weights, bias=bias)


def train_scorer(
    texts: Sequence[str],
    quality: np.ndarray,
    tier_names: Sequence[str],
    cost: np.ndarray | None = None,
    *,
    base: LearnedScorer | None = None,
    embedding: StaticEmbedding | None = None,
    kinds: Sequence[Any] | np.ndarray | None = None,
    groups: Sequence[Any] | np.ndarray | None = None,
    group_weight_power: float = GROUP_WEIGHT_POWER,
    gain_tiers: tuple[int, int] | None = None,
    within_gain: np.ndarray | None = None,
    within_weight: float = WITHIN_WEIGHT,
    kind_penalties: tuple[float, float] = KIND_PENALTIES,
    within_penalties: tuple[float, float] = WITHIN_PENALTIES,
    tier_penalties: tuple[float, float] = TIER_PENALTIES,
    hand_penalty: float = HAND_PENALTY,
    features: np.ndarray | None = None,
    seed: int = 0,
    name: str = "custom",
    meta: Mapping[str, Any] | None = None,
) -> LearnedScorer:
    """Fit a scorer's head (`fit_mixed_head`) on recorded outcomes, keeping ``base``'s static embedding.

    Args:
        texts: the prompts.
        quality: ``[n, tiers]`` in [0, 1] (NaN where a tier was not tried), cheapest tier first.
        tier_names: a name per column of ``quality``.
        cost: ``[n, tiers]`` USD per call; recorded in the scorer's metadata (mean per tier),
            not used by the fit: routing cost is the config's business.
        base: the scorer whose embedding to reuse (default: the packaged one).
        embedding: a static embedding to use instead of ``base``'s (the training script's first build).
        kinds: a task kind per row (see `fit_mixed_head`); ``None`` (a user's own outcomes):
            the score ranks by the predicted gain itself.
        groups: a data set per row, for weighting rows only (see `fit_mixed_head`).
        group_weight_power: how rows of different ``groups`` are weighted.
        gain_tiers: ``(cheap, strong)`` column indexes whose quality difference is the
            gain the score ranks by; default the first and the last tier.
        within_gain: a smoothed gain per row for the within head (see `fit_mixed_head`).
        within_weight: the within head's share of the score.
        kind_penalties: ridge penalties (embedding, hashed n-grams) of the kind head.
        within_penalties: the within head's.
        tier_penalties: the tier-success heads'.
        hand_penalty: every head's penalty on the hand features.
        features: the rows' `embedding_features`, when the caller has them already.
        seed: seeds the calibration folds.
        meta: extra facts stored in the file (what it was trained on, figures).
        name: shown in the scorer's name, ``learned:<name>@<version>``.

    Raises:
        InvalidRequest: shapes disagree, fewer than two tiers, or too few rows.
    """
    import numpy as np

    quality = np.asarray(quality, dtype=np.float64)
    if quality.ndim != 2 or quality.shape[0] != len(texts):
        raise InvalidRequest(f"quality must be [rows, tiers] with one row per prompt; got shape {quality.shape}")
    if quality.shape[1] != len(tier_names) or len(tier_names) < 2:
        raise InvalidRequest(f"need at least two tiers and one quality column per tier; got {list(tier_names)}")
    if len(texts) < 20:
        raise InvalidRequest(f"need at least 20 outcome rows to fit a scorer, got {len(texts)}")
    cheap, strong = gain_tiers if gain_tiers is not None else (0, len(tier_names) - 1)
    if embedding is None:
        embedding = (base or LearnedScorer.load()).embedding
    if features is None:
        features = embedding_features(embedding, texts)
    head, cal_x, cal_y = fit_mixed_head(
        features,
        quality,
        n_embedding=embedding.table.shape[1],
        n_hashed=HASHED_DIMS,
        gain_tiers=(cheap, strong),
        kinds=kinds,
        groups=groups,
        group_weight_power=group_weight_power,
        kind_penalties=kind_penalties,
        within_penalties=within_penalties,
        tier_penalties=tier_penalties,
        hand_penalty=hand_penalty,
        within_weight=within_weight,
        within_gain=within_gain,
        calibration_folds=5 if len(texts) >= 100 else 0,
        seed=seed,
    )
    raw_gain = head.predict(features)[:, 0]
    quantiles = np.quantile(raw_gain, np.linspace(0.0, 1.0, 101))
    info: dict[str, Any] = {
        **(meta or {}),
        "name": name,
        "rows": len(texts),
        "gain_between": [tier_names[cheap], tier_names[strong]],
        "hashed_dims": HASHED_DIMS,
        "mean_quality": {t: float(np.nanmean(quality[:, k])) for k, t in enumerate(tier_names)},
    }
    if cost is not None:
        cost = np.asarray(cost, dtype=np.float64)
        info["mean_cost_usd"] = {t: float(np.nanmean(cost[:, k])) for k, t in enumerate(tier_names)}
    return LearnedScorer(
        embedding=embedding,
        head=head,
        tier_names=tier_names,
        gain_quantiles=quantiles,
        meta=info,
        calibration=(cal_x, cal_y),
    )


# --- the mixed-traffic head (format 3) -------------------------------------------------------------
# Real traffic mixes kinds of prompt: a maths proof needs the strong tier far more often than a
# thank-you note. A head fitted with one intercept per data set (format 2's recipe) learns only
# which prompt *within* a kind is hard and throws that between-kind signal away. The format-3 score
# is the sum of two ridge heads on the same features, both with one global intercept:
#
# - the *kind head* predicts the base rate of the prompt's kind (the mean gain of the strong tier
#   over the weak one over every training prompt of that kind), read from the prompt itself: a
#   clean, low-noise target, so it is penalised lightly;
# - the *within head* predicts the prompt's gain minus its kind's base rate (noisy: penalised
#   harder), weighted by ``within_weight``.
#
# Both fold into column 0 of one `LinearHead`, so inference is unchanged. Each tier's success is a
# third ridge output, mapped through an isotonic calibration fitted on out-of-fold predictions
# (``tier_calibration``), so a predicted 0.8 is a success rate of about 0.8.


def _blocks(x1: np.ndarray, y: np.ndarray, w: np.ndarray, fold: np.ndarray, folds: int) -> list[tuple[Any, Any]]:
    """Per fold: ``(x1' W x1, x1' W y)`` over the fold's rows, so any union of folds is a sum."""
    out = []
    for k in range(folds):
        rows = fold == k
        xw = x1[rows] * w[rows, None]
        out.append((xw.T @ x1[rows], xw.T @ y[rows]))
    return out


def _solve(gram: np.ndarray, rhs: np.ndarray, penalty: np.ndarray, known_weight: float) -> np.ndarray:
    import numpy as np

    reg = np.r_[penalty, 0.0] * known_weight / 1000.0  # the last column is the (unpenalised) intercept
    return np.linalg.solve(gram + np.diag(reg) + 1e-9 * np.eye(len(reg)), rhs)


def isotonic(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted isotonic (non-decreasing) regression of ``y`` on ``x`` (pool-adjacent-violators).

    Returns the fitted values in ``x``'s order.
    """
    import numpy as np

    order = np.argsort(x, kind="stable")
    values: list[float] = []
    weights: list[float] = []
    counts: list[int] = []
    for yi, wi in zip(y[order], w[order], strict=True):
        values.append(float(yi))
        weights.append(float(wi))
        counts.append(1)
        while len(values) > 1 and values[-2] > values[-1]:
            v2, w2, c2 = values.pop(), weights.pop(), counts.pop()
            total = weights[-1] + w2
            values[-1] = (values[-1] * weights[-1] + v2 * w2) / total if total > 0 else values[-1]
            weights[-1] = total
            counts[-1] += c2
    fitted = np.repeat(values, counts)
    out = np.empty(len(x))
    out[order] = fitted
    return out


def expected_gain(outcomes: np.ndarray, weak: int, strong: int) -> np.ndarray:
    """Per item, the gain of model column ``strong`` over ``weak`` that a `rasch` fit of all ``outcomes`` expects.

    A 0/1 difference of two models is mostly noise on any one prompt; how hard the prompt is
    for every recorded model (its Rasch difficulty) and how able the two models are give a
    smooth estimate of the same quantity: ``sigmoid(a_strong - d) - sigmoid(a_weak - d)``.
    """
    import numpy as np

    difficulty, ability = rasch(outcomes)

    def p(column: int) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(ability[column] - difficulty)))

    return p(strong) - p(weak)


def calibration_curve(
    predicted: np.ndarray, observed: np.ndarray, weights: np.ndarray, knots: int = CALIBRATION_KNOTS
) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` knots mapping a raw prediction to the success rate it stands for.

    The out-of-fold predictions are cut into ``knots`` bins of equal weight; each knot sits at
    its bin's mean prediction with its bin's mean outcome, made non-decreasing by `isotonic`
    (weighted by the bins' weights). Between knots `numpy.interp` is linear, beyond them flat.
    """
    import numpy as np

    order = np.argsort(predicted, kind="stable")
    p, o, w = predicted[order], observed[order], weights[order]
    edges = np.searchsorted(np.cumsum(w) / w.sum(), np.linspace(0.0, 1.0, knots + 1)[1:-1])
    xs, ys, ws = [], [], []
    for rows in np.split(np.arange(len(p)), edges):
        if len(rows) and w[rows].sum() > 0:
            xs.append(float(np.average(p[rows], weights=w[rows])))
            ys.append(float(np.average(o[rows], weights=w[rows])))
            ws.append(float(w[rows].sum()))
    x, y = np.array(xs), isotonic(np.array(xs), np.array(ys), np.array(ws))
    x = np.maximum.accumulate(x)
    # a fixed number of knots (the file's array shape): pad by repeating the last knot
    pad = knots - len(x)
    return np.r_[x, np.full(pad, x[-1])], np.clip(np.r_[y, np.full(pad, y[-1])], 0.0, 1.0)


def fit_mixed_head(
    features: np.ndarray,
    quality: np.ndarray,
    *,
    n_embedding: int,
    n_hashed: int,
    gain_tiers: tuple[int, int],
    kinds: Sequence[Any] | np.ndarray | None = None,
    groups: Sequence[Any] | np.ndarray | None = None,
    group_weight_power: float = GROUP_WEIGHT_POWER,
    kind_penalties: tuple[float, float] = KIND_PENALTIES,
    within_penalties: tuple[float, float] = WITHIN_PENALTIES,
    tier_penalties: tuple[float, float] = TIER_PENALTIES,
    hand_penalty: float = HAND_PENALTY,
    within_weight: float = WITHIN_WEIGHT,
    within_gain: np.ndarray | None = None,
    calibration_folds: int = 5,
    seed: int = 0,
    tiers: bool = True,
) -> tuple[LinearHead, np.ndarray, np.ndarray]:
    """Fit the format-3 head: ``(head, calibration_x [tiers, knots], calibration_y [tiers, knots])``.

    Args:
        features: ``[n, f]``: embedding columns, hashed n-gram columns, hand features.
        quality: ``[n, tiers]`` in [0, 1], NaN where a tier has no record; cheapest first.
        n_embedding: how many of the columns are the embedding's.
        n_hashed: how many columns after them are hashed n-grams (the rest: hand features).
        gain_tiers: ``(weak, strong)`` columns whose difference is the gain the score ranks by.
        kinds: a task kind per row (e.g. the data set, or its sub-task); the kind head learns
            each kind's mean gain. ``None``: every row is its own kind (the kind head then
            learns the gain itself and the within head has nothing left).
        groups: a data set per row, only for weighting rows (see ``group_weight_power``);
            never an intercept.
        group_weight_power: rows weigh ``size_of_their_group ** -power``.
        kind_penalties: ridge penalties (embedding, hashed n-grams) of the kind head.
        within_penalties: the within head's.
        tier_penalties: the tier-success heads'.
        hand_penalty: every head's penalty on the hand features.
        within_weight: the within head's share of the score.
        within_gain: a less noisy estimate of each row's gain for the within head (NaN: the
            recorded gain), e.g. the gain a Rasch model of many models' outcomes expects
            (`expected_gain`).
        calibration_folds: out-of-fold predictions from this many folds fit each tier's
            isotonic calibration (fewer than 2: no calibration, predictions are clipped).
        seed: seeds the calibration folds.
        tiers: ``False`` fits column 0 only (cross-validating the score; tier columns stay 0).
    """
    import numpy as np

    n, f = features.shape
    quality = np.asarray(quality, dtype=np.float64)
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale < 1e-9] = 1.0
    x1 = np.hstack([(features - mean) / scale, np.ones((n, 1))])
    group_ids = np.unique(np.asarray(groups if groups is not None else np.zeros(n)), return_inverse=True)[1]
    w = np.bincount(group_ids)[group_ids].astype(np.float64) ** -group_weight_power
    w /= w.mean()

    def penalty(pair: tuple[float, float]) -> np.ndarray:
        return np.r_[
            np.full(n_embedding, pair[0]), np.full(n_hashed, pair[1]), np.full(f - n_embedding - n_hashed, hand_penalty)
        ]

    weak, strong = gain_tiers
    gain = quality[:, strong] - quality[:, weak]
    if np.isnan(gain).any():
        raise InvalidRequest(f"the gain tiers (columns {weak} and {strong}) need a quality on every row")
    if kinds is None:
        base = gain.copy()
    else:
        kind_ids = np.unique(np.asarray(kinds, dtype=str), return_inverse=True)[1]
        sums = np.bincount(kind_ids, weights=w * gain)
        base = (sums / np.bincount(kind_ids, weights=w))[kind_ids]
    gram = (x1 * w[:, None]).T @ x1
    smooth = gain if within_gain is None else np.where(np.isnan(within_gain), gain, within_gain)
    score_rhs = (x1 * w[:, None]).T @ np.column_stack([base, smooth - base])
    kind_coef = _solve(gram, score_rhs[:, :1], penalty(kind_penalties), float(w.sum()))
    within_coef = _solve(gram, score_rhs[:, 1:], penalty(within_penalties), float(w.sum()))
    coef = kind_coef + within_weight * within_coef

    n_tiers = quality.shape[1]
    tier_coef = np.zeros((f + 1, n_tiers))
    cal_x = np.tile(np.linspace(0.0, 1.0, CALIBRATION_KNOTS), (n_tiers, 1))
    cal_y = cal_x.copy()
    if not tiers:
        weights = np.column_stack([coef[:f, 0], tier_coef[:f]])
        return LinearHead(mean=mean, scale=scale, weights=weights, bias=np.r_[coef[f, 0], tier_coef[f]]), cal_x, cal_y
    folds = max(int(calibration_folds), 1)
    fold = np.zeros(n, dtype=int)
    order = np.random.default_rng(seed).permutation(n)
    for k, part in enumerate(np.array_split(order, folds)):
        fold[part] = k
    oof = np.full((n, n_tiers), np.nan)
    tier_pen = penalty(tier_penalties)
    for j in range(n_tiers):
        known = ~np.isnan(quality[:, j])
        if known.sum() < 2:
            raise InvalidRequest(f"tier column {j} has fewer than two known outcomes")
        y = np.where(known, quality[:, j], 0.0)[:, None]
        wk = np.where(known, w, 0.0)
        blocks = _blocks(x1, y, wk, fold, folds) if folds > 1 else []
        g_all = gram if known.all() else (x1 * wk[:, None]).T @ x1
        tier_coef[:, j] = _solve(g_all, (x1 * wk[:, None]).T @ y, tier_pen, float(wk.sum()))[:, 0]
        for k in range(folds if folds > 1 else 0):
            rows = fold == k
            g = g_all - blocks[k][0]
            rhs = sum(b for kk, (_, b) in enumerate(blocks) if kk != k)
            oof[rows, j] = x1[rows] @ _solve(g, rhs, tier_pen, float(wk[~rows].sum()))[:, 0]
    for j in range(n_tiers if folds > 1 else 0):
        known = ~np.isnan(quality[:, j])
        cal_x[j], cal_y[j] = calibration_curve(oof[known, j], quality[known, j], w[known])
    weights = np.column_stack([coef[:f, 0], tier_coef[:f]])
    bias = np.r_[coef[f, 0], tier_coef[f]]
    return LinearHead(mean=mean, scale=scale, weights=weights, bias=bias), cal_x, cal_y
