"""Bad input through the real `rag` command: one line naming the problem, status 1, no traceback,
and the index untouched."""

import json
import os
import resource
import shutil
import signal
import subprocess
import sys

import pytest
from conftest import ROOT, SEEDS, run_cli

from rag.engine import Engine
from rag.errors import IndexCorrupt, IndexWriteError, InputError
from rag.index import files as index_io


def _one_line_error(out, *needles):
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rag: error: "), out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    for n in needles:
        assert n in lines[0], lines[0]


def _run_bytes(*args, input=None, **kw):
    """The CLI with raw byte arguments (argv that is not UTF-8)."""
    return subprocess.run([sys.executable, "-m", "rag", *args], input=input, capture_output=True, cwd=ROOT,
                          timeout=300, **kw)


def _decoded(out):
    return subprocess.CompletedProcess(out.args, out.returncode, out.stdout.decode("utf-8", "replace"),
                                       out.stderr.decode("utf-8", "replace"))


@pytest.fixture(scope="module")
def seed_index(tmp_path_factory):
    index = tmp_path_factory.mktemp("cli-bad") / "index"
    out = run_cli("index", SEEDS, "--index", index, "--json")
    assert out.returncode == 0, out.stderr
    return index


def test_question_that_is_not_utf8(seed_index):
    _one_line_error(_decoded(_run_bytes("ask", b"who \xff\xfe criticised?", "--index", str(seed_index))),
                    "not valid UTF-8")


def test_batch_goes_on_past_an_undecodable_line(seed_index):
    out = _run_bytes("ask", "-", "--index", str(seed_index),
                     input=b"who criticised Hegseth?\nwho \xff criticised?\n\nWho is Stephen Wertheim?\n")
    rows = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert out.returncode == 1 and b"Traceback" not in out.stderr
    assert [("error" in r) for r in rows] == [False, True, False]
    assert "not valid UTF-8" in rows[1]["error"] and rows[2]["found"]


@pytest.mark.parametrize("args,needles", [
    (["--top-k", "0"], ["--top-k of 0 is outside 1 to 50"]),
    (["--top-k", "x"], ["--top-k must be a whole number"]),
    (["--no-such-option"], ["unrecognized arguments"]),
])
def test_usage_errors_are_one_line_with_status_1(args, needles):
    _one_line_error(run_cli("ask", "who?", *args), *needles)


@pytest.mark.parametrize("value", ["-5", "0", "100000"])
def test_chunk_tokens_out_of_range(tmp_path, value):
    _one_line_error(run_cli("index", SEEDS, "--index", tmp_path / "i", "--chunk-tokens", value),
                    f"--chunk-tokens of {value} is outside 32 to 4,096")
    assert not (tmp_path / "i").exists()


def test_index_path_that_is_a_file(tmp_path):
    f = tmp_path / "not-a-dir"
    f.write_text("x")
    _one_line_error(run_cli("index", SEEDS, "--index", f), "is a file, not an index directory")
    _one_line_error(run_cli("ask", "who?", "--index", f), "is a file, not an index directory")
    assert f.read_text() == "x"


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_deeply_nested_json_and_jsonl(tmp_path, seed_index):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "deep.json").write_text(_nested(100_000))
    (d / "deep.jsonl").write_text('{"body": "ok text here"}\n' + '{"a": ' * 50_000 + "1" + "}" * 50_000 + "\n")
    (d / "good.txt").write_text("Harbour reopens\nThe Leith harbour reopened on Monday after the storm.\n")
    version = index_io.load(seed_index).version
    _one_line_error(run_cli("index", d, "--index", seed_index), "nested too deeply", "index is unchanged")
    assert index_io.load(seed_index).version == version
    out = run_cli("index", d, "--index", seed_index, "--skip-bad", "--json")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    report = json.loads(out.stdout)
    assert len(report["errors"]) == 2 and all("nested too deeply" in e for e in report["errors"])
    assert report["embedded_documents"] == 1


def test_file_name_that_is_not_utf8(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    bad = os.fsdecode(bytes(d) + b"/caf\xe9.txt")
    with open(bad, "w") as f:
        f.write("Cafe report\nThe cafe opened on Monday in Leith.\n")
    out = _decoded(_run_bytes("index", str(d), "--index", str(tmp_path / "i")))
    _one_line_error(out, "caf\\xe9.txt", "not valid UTF-8")
    assert not index_io.exists(tmp_path / "i")


def test_document_over_the_size_cap(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("Big\n" + "The council met again. " * 60_000)  # 1.4 million characters
    _one_line_error(run_cli("index", big, "--index", tmp_path / "i"),
                    "over the 1,000,000-character limit for one document", "--max-doc-chars")
    assert not index_io.exists(tmp_path / "i")


def test_indexing_a_folder_that_holds_the_index_skips_the_index(tmp_path, fake_embedder):
    corpus = tmp_path / "news"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Harbour reopens\nThe Leith harbour reopened on Monday after the storm.\n")
    eng = Engine(corpus / "index", embedder=fake_embedder)
    assert eng.index([corpus]).documents == 1
    other = Engine(tmp_path / "elsewhere", embedder=fake_embedder)  # the index folder is not its own
    assert other.index([corpus]).documents == 1
    assert eng.index([corpus]).documents == 1 and eng.index([corpus]).embedded == 0


def _without_file_override() -> list[str]:
    """A command prefix under which file permissions apply: root ignores them, so as root the
    child drops the two capabilities that let it (util-linux's setpriv); otherwise nothing."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv (util-linux): file permissions cannot be applied")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]


def test_read_only_index_directory(tmp_path):
    index = tmp_path / "index"
    assert run_cli("index", SEEDS, "--index", index).returncode == 0
    version = index_io.load(index).version
    extra = tmp_path / "extra.txt"
    extra.write_text("Harbour reopens\nThe Leith harbour reopened on Monday after the storm.\n")
    index.chmod(0o555)
    try:
        out = subprocess.run([*_without_file_override(), sys.executable, "-m", "rag", "index", str(extra),
                              "--index", str(index)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    finally:
        index.chmod(0o755)
    _one_line_error(out, "cannot write the index", "ermission denied")
    assert index_io.load(index).version == version


def test_unreadable_index_file(tmp_path):
    index = tmp_path / "index"
    assert run_cli("index", SEEDS, "--index", index).returncode == 0
    target = index / index_io.load(index).version / "chunks.faiss"
    target.chmod(0o000)
    try:
        out = subprocess.run([*_without_file_override(), sys.executable, "-m", "rag", "ask", "who criticised Hegseth?",
                              "--index", str(index)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    finally:
        target.chmod(0o644)
    _one_line_error(out, "chunks.faiss cannot be read", "ermission denied")


def _limit_file_size():
    # Writes past 200 KB fail with EFBIG, as a full disk fails them with ENOSPC (no root needed).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


def test_write_refused_by_the_kernel_mid_save_leaves_the_index_serving(tmp_path, seed_index):
    index = tmp_path / "index"
    subprocess.run(["cp", "-r", str(seed_index), str(index)], check=True)
    version = index_io.load(index).version
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(40):  # enough text that sentences.faiss passes the limit
        (docs / f"{i}.txt").write_text(f"Report {i}\n" + " ".join(f"Item {i}-{j} was approved by the board."
                                                                   for j in range(20)) + "\n")
    out = subprocess.run([sys.executable, "-m", "rag", "index", str(docs), "--index", str(index)],
                         capture_output=True, text=True, cwd=ROOT, timeout=300, preexec_fn=_limit_file_size)
    _one_line_error(out, "cannot write the index", "File too large", "previous version is unchanged")
    assert index_io.load(index).version == version
    assert [p.name for p in index.glob("v-*")] == [version] and not list(index.glob(".tmp-*"))


def test_disk_full_while_saving(tmp_path, corpus_dir, fake_embedder, monkeypatch):
    """ENOSPC itself needs a full file system (a tmpfs mount needs root), so here the write call
    raises it, as the kernel would; the test above has the kernel refuse a write for real."""
    import errno

    eng = Engine(tmp_path / "idx", embedder=fake_embedder)
    eng.index([corpus_dir])
    version = eng.load().version
    (corpus_dir / "d.txt").write_text("Storm\nA storm closed the port on Friday.\n")
    real_save = index_io.np.save

    def full(path, *a, **k):
        if str(path).endswith("chunks.npy"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(path, *a, **k)

    monkeypatch.setattr(index_io.np, "save", full)
    with pytest.raises(IndexWriteError, match="No space left on device; the previous version is unchanged"):
        Engine(tmp_path / "idx", embedder=fake_embedder).index([corpus_dir])
    monkeypatch.undo()
    assert index_io.load(tmp_path / "idx").version == version
    assert not list((tmp_path / "idx").glob(".tmp-*"))


@pytest.mark.parametrize("pointer", ["v-x/../../elsewhere", "../outside", "/etc", "v-link"])
def test_current_must_name_a_version_directory_inside_the_index(tmp_path, corpus_dir, fake_embedder, pointer):
    eng = Engine(tmp_path / "idx", embedder=fake_embedder)
    eng.index([corpus_dir])
    idx = tmp_path / "idx"
    version = eng.load().version
    outside = tmp_path / "elsewhere"
    subprocess.run(["cp", "-r", str(idx / version), str(outside)], check=True)
    (idx / "v-link").symlink_to(outside)
    sha = index_io._sha256(outside / "manifest.json")
    (idx / "CURRENT").write_text(f"{pointer} {sha}\n")
    with pytest.raises(IndexCorrupt, match="not a version directory of this index"):
        index_io.load(idx)


def test_lxml_html_clean_missing_is_named(tmp_path):
    page = tmp_path / "a.html"
    page.write_text("<html><body><article><p>The Leith harbour reopened on Monday after the storm, "
                    "officials said.</p></article></body></html>")
    code = ("import sys; sys.modules['lxml_html_clean'] = None\n"
            "from pathlib import Path\nfrom rag.text.ingest import load_file\nfrom rag.errors import InputError\n"
            f"try:\n    load_file(Path({str(page)!r}), 'a')\nexcept InputError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "needs the Python package lxml_html_clean (pip install lxml_html_clean)" in out.stdout, out


def test_ingest_errors_never_escape_as_other_exceptions(tmp_path):
    from rag.text.ingest import load_file

    cases = {"a.json": '[{"body": "text", "title": {"nested": 1}}]', "b.jsonl": '{"body": ["x"]}',
             "c.json": '"just a string"', "d.json": '{"body": "ok", "title": "\\ud800"}'}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(InputError, match=name):
            load_file(tmp_path / name, name)
