"""Property-based fuzzing of ingest: whatever a file holds, indexing it either works or fails with
an InputError naming the file, and a refused file leaves the index exactly as it was.

(The `/api/ask` body fuzz runs against the real server in test_security.py.)
"""

import json
import tempfile
from pathlib import Path

from conftest import FakeEmbedder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.engine import Engine
from rag.errors import InputError
from rag.index import files as index_io
from rag.text.ingest import SUPPORTED

_json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40)
_json = st.recursive(_json_scalars, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.sampled_from(["body", "text", "title", "source", "published_at", "url",
                                                        "documents", "articles", "x"]) | st.text(max_size=8),
                                       inner, max_size=5), max_leaves=25)


def _nested(depth: int, kind: str) -> str:
    return ("[" * depth + "]" * depth) if kind == "list" else ('{"a": ' * depth + "1" + "}" * depth)


_contents = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=2000).map(lambda t: t.encode("utf-8", "surrogatepass")),
    _json.map(lambda v: json.dumps(v).encode()),
    st.lists(_json, max_size=4).map(lambda vs: "\n".join(json.dumps(v) for v in vs).encode()),
    st.tuples(st.integers(1, 200_000), st.sampled_from(["list", "dict"])).map(lambda a: _nested(*a).encode()),
    st.text(max_size=300).map(lambda t: f"<html><body><article><p>{t}</p></article></body></html>".encode(
        "utf-8", "surrogatepass")),
    st.text(min_size=1, max_size=300).map(lambda t: f"---\ntitle: {t}\n---\n{t}\n".encode("utf-8", "surrogatepass")),
)
_names = st.sampled_from([*SUPPORTED, ".pdf", "", ".TXT", ".Json"]).map(lambda s: f"article{s}")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=_names, content=_contents)
def test_any_file_is_indexed_or_refused_cleanly(name, content):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "seed.txt").write_text("Harbour reopens\nThe harbour reopened on Monday after the storm.\n")
        eng = Engine(tmp / "index", embedder=FakeEmbedder())
        eng.index([tmp / "seed.txt"])
        before = index_io.current(tmp / "index")
        docs = tmp / "docs"
        docs.mkdir()
        (docs / name).write_bytes(content)
        try:
            report = Engine(tmp / "index", embedder=FakeEmbedder()).index([docs / name])
        except InputError as e:
            assert "\n" not in str(e) and len(str(e)) < 600
            assert index_io.current(tmp / "index") == before  # a refused file changes nothing
            return
        assert report.documents >= 2
        data = index_io.load(tmp / "index")
        for row in data.sentences:  # spans still index the text exactly
            d = data.documents[row[1]]
            assert 0 <= row[3] <= row[4] <= len(d.text)
