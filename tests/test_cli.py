"""The `rag` command as other tools call it: JSON contract and bad input, in real subprocesses."""

import hashlib
import json
import shutil

import pytest
from conftest import SEEDS, run_cli

INDEX_KEYS = {"documents", "sentences", "chunks", "embedded", "skipped", "removed", "seconds"}
ANSWER_KEYS = {"question", "answer", "found", "citations", "answers", "related"}
CITATION_KEYS = {"n", "doc_id", "title", "source", "url", "published", "sentence", "start", "end", "score"}


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    seeds = root / "seeds"
    shutil.copytree(SEEDS, seeds)
    first = run_cli("index", seeds, "--index", root / "index", "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert INDEX_KEYS <= set(report) and report["documents"] == 1 and report["embedded"] > 0
    return root


def _snapshot(index_dir):
    return {p.relative_to(index_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(index_dir.rglob("*")) if p.is_file()}


def test_second_index_run_embeds_nothing(cli_index):
    out = run_cli("index", cli_index / "seeds", "--index", cli_index / "index", "--json")
    report = json.loads(out.stdout)
    assert report["embedded"] == 0 and report["skipped"] == 1 and report["removed"] == 0


def test_ask_json_contract(cli_index):
    out = run_cli("ask", "who criticised Hegseth?", "--index", cli_index / "index", "--json", "--top-k", "3")
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert ANSWER_KEYS <= set(answer) and answer["found"] is True
    # The answer's citations first, then the retrieved sentences it does not cite.
    assert [c["n"] for c in answer["citations"] + answer["related"]] == [1, 2, 3]
    assert answer["answers"][0]["text"] == "Gabrielius Landsbergis"
    text = next(SEEDS.glob("*.txt")).read_text(encoding="utf-8")
    for c in answer["citations"]:
        assert CITATION_KEYS <= set(c)
        assert text[c["start"]:c["end"]] == c["sentence"]
    assert any("Landsbergis" in c["sentence"] for c in answer["citations"])


def test_ask_readable_and_stdin_batch(cli_index):
    out = run_cli("ask", "Who is Stephen Wertheim?", "--index", cli_index / "index")
    assert out.returncode == 0 and "Sources:" in out.stdout and "[1] Trump says he backs Ukraine" in out.stdout
    batch = run_cli("ask", "-", "--index", cli_index / "index",
                    input="who criticised Hegseth?\n\nWho won the 2022 FIFA World Cup?\n")
    lines = [json.loads(line) for line in batch.stdout.splitlines()]
    assert [o["found"] for o in lines] == [True, False]


BAD_ASKS = [
    (["ask", ""], "the question is empty"),
    (["ask", "   "], "the question is empty"),
    (["ask", "x" * 5000], "limit is 1000"),
    (["ask", "hi", "--top-k", "0"], "outside 1 to 50"),
]


@pytest.mark.parametrize("args,message", BAD_ASKS)
def test_bad_questions(cli_index, args, message):
    before = _snapshot(cli_index / "index")
    out = run_cli(*args, "--index", cli_index / "index")
    assert out.returncode != 0 and message in out.stderr and "Traceback" not in out.stderr
    assert _snapshot(cli_index / "index") == before


def test_missing_and_corrupt_index(cli_index, tmp_path):
    out = run_cli("ask", "who?", "--index", tmp_path / "none")
    assert out.returncode == 1 and "no index in" in out.stderr and "Traceback" not in out.stderr
    broken = tmp_path / "broken"
    shutil.copytree(cli_index / "index", broken)
    victim = next(broken.glob("v-*/chunks.faiss"))
    data = bytearray(victim.read_bytes())
    data[100] ^= 0xFF
    victim.write_bytes(bytes(data))
    out = run_cli("ask", "who?", "--index", broken)
    assert out.returncode == 1 and "chunks.faiss" in out.stderr and "--rebuild" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


BAD_FILES = [
    ("binary.txt", b"\x00\x01\x02abc", "binary file"),
    ("empty.txt", b"   \n", "empty file"),
    ("latin1.txt", "caf\xe9 cr\xe8me".encode("latin-1"), "not UTF-8"),
    ("report.pdf", b"%PDF-1.4", "unsupported file type .pdf"),
    ("broken.json", b'[{"title": "x", "body": ', "invalid JSON"),
    ("nobody.json", b'[{"title": "x"}]', "has no 'body' or 'text'"),
]


@pytest.mark.parametrize("name,content,message", BAD_FILES)
def test_bad_files_leave_the_index_unchanged(cli_index, tmp_path, name, content, message):
    bad = tmp_path / name
    bad.write_bytes(content)
    before = _snapshot(cli_index / "index")
    out = run_cli("index", cli_index / "seeds", bad, "--index", cli_index / "index", "--json")
    assert out.returncode == 1 and name in out.stderr and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert _snapshot(cli_index / "index") == before


def test_missing_path(cli_index, tmp_path):
    out = run_cli("index", tmp_path / "nope", "--index", cli_index / "index")
    assert out.returncode == 1 and "no such file or directory" in out.stderr
