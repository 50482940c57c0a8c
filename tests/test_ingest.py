import json

import pytest

from rag.errors import InputError
from rag.text.ingest import discover, from_text, load_file

HTML = """<html><head><title>Harbour reopens | Coast Times</title>
<meta property="og:site_name" content="Coast Times"><meta name="author" content="Ana Ruiz">
<meta property="article:published_time" content="2024-03-05"></head>
<body><nav>Home | World | Sport | Subscribe</nav><article><h1>Harbour reopens after storm</h1>
<p>The harbour in Vigo reopened on Tuesday after a storm closed it for three days, the port authority said.</p>
<p>Fishing boats returned to the docks by the afternoon, and the ferry service resumed its usual timetable.</p>
<p>Officials said repairs to the northern pier would take another two weeks to complete.</p>
</article><footer>Copyright Coast Times. All rights reserved.</footer></body></html>"""


def test_markdown_front_matter(tmp_path):
    p = tmp_path / "a.md"
    p.write_text("---\ntitle: Chess final\nsource: Chess Weekly\nauthor: Li\npublished: 2024-01-02\nurl: https://x.test/a\n"
                 "---\n# Chess final\n\nJu Wenjun won.\n", encoding="utf-8")
    doc = load_file(p, "a")[0]
    assert (doc.title, doc.source, doc.author, doc.published, doc.url) == (
        "Chess final", "Chess Weekly", "Li", "2024-01-02", "https://x.test/a")
    assert doc.text.index("Ju Wenjun won.") == p.read_text().index("Ju Wenjun won.")  # spans index the file


def test_html_main_text_and_metadata(tmp_path):
    p = tmp_path / "a.html"
    p.write_text(HTML, encoding="utf-8")
    doc = load_file(p, "a")[0]
    assert "harbour in Vigo reopened" in doc.text and "Subscribe" not in doc.text
    assert doc.author == "Ana Ruiz" and doc.published.startswith("2024-03-05")


def test_json_and_jsonl_records(tmp_path):
    recs = [{"title": "T1", "body": "First body.", "source": "S", "published_at": "2023-10-01", "url": "u1"},
            {"title": "T2", "text": "Second body."}]
    (tmp_path / "a.json").write_text(json.dumps(recs), encoding="utf-8")
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps(r) for r in recs), encoding="utf-8")
    a = load_file(tmp_path / "a.json", "a")
    b = load_file(tmp_path / "b.jsonl", "b")
    assert [d.title for d in a] == ["T1", "T2"] and a[0].published == "2023-10-01" and a[0].source == "S"
    assert [d.doc_id for d in b] == ["b#0", "b#1"]
    assert a[0].sha256 == b[0].sha256  # same content, same hash: never embedded twice


def test_discover_skips_hidden_and_unsupported(tmp_path):
    (tmp_path / ".hidden.txt").write_text("x")
    (tmp_path / "img.png").write_bytes(b"\x89PNG")
    (tmp_path / "ok.txt").write_text("Title\nBody text.")
    assert [p.name for p in discover([tmp_path])] == ["ok.txt"]


def test_pasted_text():
    doc = from_text("My title\nSome body text here.", "pasted-1")
    assert doc.title == "My title" and doc.sha256
    with pytest.raises(InputError, match="empty"):
        from_text("  \n ", "pasted-2")


def test_html_without_a_date_gets_none_not_the_footers_copyright_year(tmp_path):
    page = ("<html><head><title>Council approves lane</title></head><body><article><h1>Council approves lane</h1>"
            "<p>The council approved the new cycle lane on Main Street after a long debate among members of the "
            "transport committee.</p><p>Residents said the lane would make the street safer for children walking "
            "to school every day.</p></article><footer>© 2025 Example News</footer></body></html>")
    (tmp_path / "a.html").write_text(page, encoding="utf-8")
    (tmp_path / "b.html").write_text(page.replace(
        "<head>", '<head><meta property="article:published_time" content="2024-03-05T10:00:00Z">'), encoding="utf-8")
    assert load_file(tmp_path / "a.html", "a")[0].published == ""
    assert load_file(tmp_path / "b.html", "b")[0].published == "2024-03-05"
