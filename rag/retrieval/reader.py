"""An optional reader: a cross-encoder that reads a question with one candidate sentence and
says how likely that sentence answers it; its logit is added to the sentence's score.

The bi-encoder matches topics: "who criticised Hegseth?" is as close to the sentence reporting
Hegseth's remarks as to the sentence quoting his critic. A cross-encoder reads both texts together.
`tools/train_reader.py` fine-tunes one from the bundled all-MiniLM-L6-v2 on the dev halves of
MultiHop-RAG and RealTime QA (about 40 minutes on two cores). None ships and none is on by
default: the one trained here (held-out pair AUC 0.91) lifted MultiHop-RAG but lowered the
project's own question set and failed hand-written probes on articles unlike its training data
(BENCHMARKS.md, issue 15). `rag eval ... --reader DIR` measures one.

A sentence is read with a little context, the same at training and at search: its article's title
always, and the sentence before it when it opens with a pronoun or is short ("Its owner, Mirela
Sandu, opened the shop in 2019." says whose owner only through what came before).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from ..embedding import cpu_has_fast_bf16, offline_unless_allowed
from ..errors import InputError

READER_DIR = Path(".cache") / "reader" / "model"  # where tools/train_reader.py writes one
HEAD_FILE = "head.safetensors"
MAX_TOKENS = 160
# English pronouns and demonstratives that point back to an earlier sentence.
_POINTS_BACK = re.compile(r"^\W*(it|its|he|his|him|she|her|they|their|them|this|that|these|those|there|"
                          r"such|both|the two)\b", re.I)
SHORT_WORDS = 8


def passage(sentence: str, title: str = "", previous: str = "") -> str:
    """What the reader reads for one sentence: the sentence first (truncation cuts context, never
    the sentence), then the article's title, then the previous sentence when this one leans on it."""
    sentence = " ".join(sentence.split())
    parts = [sentence]
    if title:
        parts.append(f"Article: {' '.join(title.split())}")
    if previous and (_POINTS_BACK.match(sentence) or len(sentence.split()) < SHORT_WORDS):
        parts.append(f"Before: {' '.join(previous.split())}")
    return " | ".join(parts)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _torch_module():
    import torch

    class ReaderModel(torch.nn.Module):
        """MiniLM reading a (question, passage) pair, mean-pooled as the bi-encoder it starts from
        was trained to be, then one linear unit: the logit that the passage answers the question."""

        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder
            self.head = torch.nn.Linear(encoder.config.hidden_size, 1)

        @classmethod
        def from_encoder(cls, path, prior: float = 0.5):
            from transformers import AutoModel

            m = cls(AutoModel.from_pretrained(path))
            torch.nn.init.zeros_(m.head.weight)
            torch.nn.init.constant_(m.head.bias, math.log(prior / (1 - prior)))  # starts at the base rate
            return m

        @classmethod
        def load(cls, path):
            from safetensors.torch import load_file
            from transformers import AutoModel

            m = cls(AutoModel.from_pretrained(path, dtype=torch.float32))
            m.head.load_state_dict({k: v.float() for k, v in load_file(str(Path(path) / HEAD_FILE)).items()})
            return m.eval()

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            h = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1)
            return self.head(pooled)[:, 0]

        def save(self, path) -> None:
            """fp16 weights: the encoder as a transformers folder, the head beside it."""
            from safetensors.torch import save_file

            path = Path(path)
            path.mkdir(parents=True, exist_ok=True)
            self.encoder.half().save_pretrained(path, safe_serialization=True)
            save_file({k: v.half().contiguous() for k, v in self.head.state_dict().items()}, str(path / HEAD_FILE))
            self.encoder.float()

    return ReaderModel


def __getattr__(name):  # ReaderModel needs torch, imported only when the model is used
    if name == "ReaderModel":
        return _torch_module()
    raise AttributeError(name)


class Reader:
    """The reader on the CPU; `scores` gives one logit per (question, passage)."""

    def __init__(self, path: str | Path = READER_DIR, batch_size: int = 32):
        offline_unless_allowed()
        path = Path(path)
        if not (path / "config.json").is_file() or not (path / HEAD_FILE).is_file():
            raise InputError(f"{path}: no reader model here (train one with tools/train_reader.py)")
        from transformers import AutoTokenizer

        self.name = str(path)
        self.batch_size = batch_size
        self.bf16 = cpu_has_fast_bf16()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = _torch_module().load(path)

    def scores(self, question: str, passages: list[str]) -> np.ndarray:
        if not passages:
            return np.zeros(0, np.float32)
        import torch

        out = []
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            for i in range(0, len(passages), self.batch_size):
                batch = passages[i:i + self.batch_size]
                enc = self.tokenizer([question] * len(batch), batch, truncation="only_second",
                                     max_length=MAX_TOKENS, padding=True, return_tensors="pt")
                out.append(self.model(**enc).float().numpy())
        return np.concatenate(out).astype(np.float32)


_LOADED: dict[str, Reader] = {}


def load_reader(path: str | Path = READER_DIR) -> Reader:
    """One reader per path and process (the chat server and the CLI share it)."""
    key = str(path)
    if key not in _LOADED:
        _LOADED[key] = Reader(path)
    return _LOADED[key]
