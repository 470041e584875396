"""Task prefixes: the instruction text some embedding models need before queries and documents.

Asymmetric retrieval models are trained with a marker that tells the model
whether a text is a search query or a document. Leaving it out silently degrades
retrieval (the most common complaint about ``nomic-embed-text`` integrations), and
using different markers for indexing and querying breaks it. A scheme is part of
the embedding space, so an index is never queried with another scheme.
"""

from __future__ import annotations

import hashlib
from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "KNOWN_SCHEMES",
    "PrefixScheme",
    "TextKind",
    "scheme_for_model",
]


class TextKind(str, Enum):
    """Whether a text is embedded as a search query or as a document to be searched."""

    QUERY = "query"
    DOCUMENT = "document"


class PrefixScheme(BaseModel):
    """The prefixes a model expects for queries and documents."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    """Short name shown in space ids (``nomic``, ``e5``, ``none``, ``custom-<hash>``)."""
    query: str = ""
    """Prepended to every query (``embed_query``)."""
    document: str = ""
    """Prepended to every document (``embed_documents``)."""

    def apply(self, text: str, kind: TextKind) -> str:
        """Return ``text`` with the prefix for ``kind``; a text that already has it is left alone."""
        prefix = self.query if kind is TextKind.QUERY else self.document
        if not prefix or text.startswith(prefix):
            return text
        return prefix + text

    @classmethod
    def custom(cls, query: str = "", document: str = "") -> PrefixScheme:
        """Build a user-defined scheme; its name carries a hash so two custom schemes never compare equal."""
        digest = hashlib.sha256(f"{query}\x00{document}".encode()).hexdigest()[:8]
        return cls(name=f"custom-{digest}", query=query, document=document)


_BGE_QUERY = "Represent this sentence for searching relevant passages: "

#: Schemes of the model families whose model cards require prefixes.
KNOWN_SCHEMES: dict[str, PrefixScheme] = {
    "none": PrefixScheme(name="none"),
    # nomic-embed-text v1/v1.5 model card: "search_query: " / "search_document: ".
    "nomic": PrefixScheme(name="nomic", query="search_query: ", document="search_document: "),
    # E5 (intfloat/e5-*, multilingual-e5-*): "query: " / "passage: ".
    "e5": PrefixScheme(name="e5", query="query: ", document="passage: "),
    # BGE English v1.5: an instruction on queries only (bge-m3 needs none).
    "bge": PrefixScheme(name="bge", query=_BGE_QUERY),
    # mxbai-embed-large-v1: the same retrieval prompt on queries only.
    "mxbai": PrefixScheme(name="mxbai", query=_BGE_QUERY),
    # snowflake-arctic-embed (v1): the same prompt on queries only.
    "arctic": PrefixScheme(name="arctic", query=_BGE_QUERY),
}

SchemeName = Literal["none", "nomic", "e5", "bge", "mxbai", "arctic"]


def scheme_for_model(identity: str) -> PrefixScheme:
    """Guess the scheme from a model identity (see `routed_llm.embeddings.spaces.model_identity`).

    Unknown models get ``none``: adding a prefix a model was not trained with is as
    harmful as leaving out one it was. Configure ``prefixes`` for anything else.
    """
    name = identity.lower()
    if "nomic-embed" in name:
        return KNOWN_SCHEMES["nomic"]
    if "mxbai-embed" in name:
        return KNOWN_SCHEMES["mxbai"]
    if "arctic-embed" in name and "v2" not in name:
        return KNOWN_SCHEMES["arctic"]
    base = name.rsplit("/", 1)[-1]
    # Ollama's bge-large is BAAI/bge-large-en-v1.5; bge-m3 and the Chinese models take no instruction.
    if base.startswith("bge-") and not base.startswith("bge-m3") and "-zh" not in base:
        return KNOWN_SCHEMES["bge"]
    if base.startswith(("e5-", "multilingual-e5")):
        return KNOWN_SCHEMES["e5"]
    return KNOWN_SCHEMES["none"]
