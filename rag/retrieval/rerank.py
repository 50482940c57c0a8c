"""An optional cross-encoder reranker, for users who have one (`--reranker MODEL`).

A cross-encoder reads the question and a passage together, so it matches paraphrases that the
bi-encoder and BM25 miss ("portrayed as an antagonist" for "painting Google as the bad guy"):
that step is where MultiHop-RAG's remaining misses are (BENCHMARKS.md). None ships with the
project and none can be downloaded here, so it is off by default. When given, each ranking's
best candidates (the whole question's and each clause's) are reordered by the cross-encoder's
score for that ranking's own text, before the rankings are merged.
"""

from __future__ import annotations

import numpy as np

from ..embedding import cpu_has_fast_bf16, offline_unless_allowed, resolve_model
from ..errors import InputError


class CrossEncoderReranker:
    """A sentence-transformers `CrossEncoder` on the CPU, loaded without the network by default."""

    def __init__(self, model: str, batch_size: int = 32):
        offline_unless_allowed()
        from sentence_transformers import CrossEncoder

        self.name = model
        self.batch_size = batch_size
        self.bf16 = cpu_has_fast_bf16()  # as for the embedder: 2-3x faster on AMX / AVX512-BF16 cores
        try:
            self.model = CrossEncoder(resolve_model(model), device="cpu")
        except Exception as e:  # many failure types: missing path, not cached, not a cross-encoder
            raise InputError(
                f"cannot load reranker {model!r} ({type(e).__name__}); give the path of a sentence-transformers "
                "cross-encoder, a model already in the Hugging Face cache, or set RAG_ALLOW_DOWNLOAD=1 to fetch it"
            ) from None

    def scores(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """One relevance score per (query, passage) pair; higher is more relevant."""
        if not pairs:
            return np.zeros(0, np.float32)
        import torch

        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            out = self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False,
                                     convert_to_numpy=True)
        out = np.asarray(out, np.float32)
        return out if out.ndim == 1 else out[:, -1]  # a two-label model: the "relevant" logit


def load_reranker(model: str | None) -> CrossEncoderReranker | None:
    return CrossEncoderReranker(model) if model else None
