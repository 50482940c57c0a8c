"""Typed value records that carry provenance from the article to the citation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Document:
    """One article: its full text and metadata. Sentence spans index into `text`."""

    doc_id: str
    title: str
    text: str
    source: str = ""
    author: str = ""
    published: str = ""
    url: str = ""
    path: str = ""  # the file it came from (records of one JSON file share it)
    sha256: str = ""  # of title + text + metadata: unchanged hash means nothing to re-embed

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Sentence:
    """One sentence as stored: the document it comes from, its place there and its exact span."""

    row: int  # its row in the index's sentence table
    document: Document
    index: int  # its position in the document (0 for the first)
    start: int  # its first character in document.text
    end: int  # the character after its last

    @property
    def text(self) -> str:
        return self.document.text[self.start:self.end]

    def cite(self, n: int, score: float) -> "Citation":
        """This sentence as citation [n] of an answer."""
        d = self.document
        return Citation(n, d.doc_id, d.title, d.source, d.url, d.published, self.text, self.index, self.start,
                        self.end, score)


@dataclass(frozen=True)
class Citation:
    """One cited sentence with its document, position and exact character span."""

    n: int
    doc_id: str
    title: str
    source: str
    url: str
    published: str
    sentence: str
    sentence_index: int
    start: int
    end: int
    score: float

    def to_json(self) -> dict:
        return {
            "n": self.n,
            "doc_id": self.doc_id,
            "title": self.title,
            "source": self.source,
            "url": self.url,
            "published": self.published,
            "sentence": self.sentence,
            "sentence_index": self.sentence_index,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
        }


@dataclass
class Answer:
    """What `Engine.ask` returns: the answer text with `[n]` markers and its citations."""

    question: str
    answer: str
    found: bool
    citations: list[Citation] = field(default_factory=list)
    mode: str = "extractive"
    rewritten: str = ""  # the question as used for retrieval, when it differs
    notice: str = ""
    claims: list[dict] | None = None
    # The stated parts of the answer: [{"text": "Mirela Sandu", "citations": [1]}] (statement.py).
    answers: list[dict] = field(default_factory=list)
    # Retrieved sentences the answer does not cite, best first (the same fields as citations).
    related: list[Citation] = field(default_factory=list)
    # The stated answer that opens `answer` ("Gabrielius Landsbergis [1] criticised Hegseth."), or ""
    # when the question has no stated form; the rest of `answer` is the supporting sentences.
    lead: str = ""
    # The documents of the index version that answered (not in JSON): the UI shows each cited
    # sentence in its paragraph from these, even after a newer version is swapped in.
    documents: list[Document] | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict:
        out = {
            "question": self.question,
            "answer": self.answer,
            "found": self.found,
            "citations": [c.to_json() for c in self.citations],
            "mode": self.mode,
            "answers": self.answers,
            "related": [c.to_json() for c in self.related],
        }
        if self.rewritten:
            out["rewritten"] = self.rewritten
        if self.claims is not None:
            out["claims"] = self.claims
        if self.notice:
            out["notice"] = self.notice
        if self.lead:
            out["lead"] = self.lead
        return out
