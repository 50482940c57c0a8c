"""Attacks on a real `rag serve`, as an outside tester would run them: raw HTTP (httpx) and
gradio_client against a server started for this module on its own index."""

import concurrent.futures as cf
import json
import shutil
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from conftest import ROOT, SEEDS, free_port, run_cli, wait_until_up
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow
UPLOAD_REFUSED = "not a file uploaded through this page"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    root = tmp_path_factory.mktemp("secure")
    shutil.copytree(SEEDS, root / "seeds")
    port = free_port()
    log = open(root / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "rag", "serve", "--port", str(port), "--index", str(root / "index"),
                             "--seeds", str(root / "seeds")], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    if not wait_until_up(proc, url + "/health"):
        raise RuntimeError("server did not start: " + (root / "serve.log").read_text())
    yield {"url": url, "root": root, "index": root / "index", "proc": proc, "log": root / "serve.log"}
    proc.terminate()
    proc.wait(timeout=20)


def _health(srv) -> dict:
    return httpx.get(srv["url"] + "/health", timeout=10).json()


def _events(srv, api: str, data: list, timeout=120) -> str:
    """A Gradio API call over raw HTTP: POST /gradio_api/call/<api>, then its event stream's text."""
    r = httpx.post(f"{srv['url']}/gradio_api/call/{api}", json={"data": data}, timeout=30)
    assert r.status_code == 200, r.text
    event = r.json()["event_id"]
    with httpx.stream("GET", f"{srv['url']}/gradio_api/call/{api}/{event}", timeout=timeout) as s:
        return "".join(s.iter_text())


def _call(srv, api: str, data: list, timeout=120) -> str:
    """The reply of a Gradio API call that completes."""
    text = _events(srv, api, data, timeout)
    assert "event: complete" in text, text
    return json.loads(text.split("event: complete", 1)[1].split("data:", 1)[1].strip())[0]


def _raw(srv, request: bytes) -> int:
    """Send bytes no HTTP client library would; the status code of the reply (0: connection closed)."""
    host, port = srv["url"].rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        reply = b""
        while b"\r\n" not in reply:
            piece = sock.recv(4096)
            if not piece:
                break
            reply += piece
    return int(reply.split()[1]) if reply.startswith(b"HTTP/") else 0


def _rss_kb(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_add_never_reads_a_server_path(srv):
    before = _health(srv)
    secret = ROOT / "README.md"
    replies = [_events(srv, "add", [[{"path": str(p), "meta": {"_type": "gradio.FileData"}}], ""])
               for p in (secret, ROOT / "no-such-dir" / "README.md", "../../README.md", "/etc/passwd")]
    replies += [_events(srv, "add", [[{"path": str(secret), "meta": {"_type": "gradio.FileData"}, "is_stream": True}], ""]),
                _events(srv, "add", [[{"path": "http://127.0.0.1:9/x.txt", "meta": {"_type": "gradio.FileData"}}], ""])]
    # Refused before the handler runs (Gradio's own check, switched on for mounted apps), with one
    # reply for every path: it does not tell whether the path exists.
    assert all(r == 'event: error\ndata: {"error": null}\n\n' for r in replies), replies
    assert _health(srv)["index_version"] == before["index_version"] and _health(srv)["documents"] == 1
    answer = httpx.post(srv["url"] + "/api/ask", json={"question": "What does dev.sh install?"}, timeout=60).json()
    assert all("README" not in c["doc_id"] for c in answer["citations"])


def test_gradio_file_route_serves_no_server_file(srv):
    for path in (ROOT / "README.md", srv["index"] / "CURRENT", "/etc/passwd"):
        r = httpx.get(f"{srv['url']}/gradio_api/file={path}", timeout=10)
        assert r.status_code in (403, 404), (path, r.status_code)
        assert "rag" not in r.text.lower() or r.status_code != 200


def test_gradio_client_upload_works_and_a_named_path_does_not(srv, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(srv["url"] + "/", verbose=False)
    # gradio_client uploads any local file it is given (the client's own bytes, which is allowed);
    # a path it does not recognise as a file object goes to the server raw, and is refused there.
    with pytest.raises(Exception) as refused:  # gradio_client raises the server's error event
        client.predict([{"path": str(ROOT / "README.md")}], "", api_name="/add")
    assert "README" not in str(refused.value) and "Traceback" not in str(refused.value)
    assert _health(srv)["documents"] == 1
    article = tmp_path / "bakery.txt"
    article.write_text("Bakery in Leith\nThe Quiet Harbour bakery in Leith sells a cardamom bun. "
                       "Its owner, Mirela Sandu, opened the shop in 2019.\n")
    reply = client.predict([handle_file(str(article))], "", api_name="/add")
    assert reply.startswith("Added 1 article(s)"), reply
    answer = httpx.post(srv["url"] + "/api/ask", json={"question": "When did Mirela Sandu open the bakery?"},
                        timeout=60).json()
    assert answer["found"] and any("2019" in c["sentence"] for c in answer["citations"])
    # The uploaded copy is read once and removed: nothing of it lingers in the upload folder.
    leftovers = [p for p in srv["root"].glob("**/bakery.txt")]
    assert leftovers == [] or all(p.parent.name == "seeds" for p in leftovers)


def _chunked(total: int, piece: int = 64 * 1024):
    sent = 0
    while sent < total:
        yield b"x" * min(piece, total - sent)
        sent += piece


def _multipart(files: int, size: int):
    """A well-formed multipart upload of `files` files of `size` bytes each, streamed."""
    for i in range(files):
        yield (f'--b\r\nContent-Disposition: form-data; name="files"; filename="f{i}.txt"\r\n'
               "Content-Type: text/plain\r\n\r\n").encode()
        yield from _chunked(size)
        yield b"\r\n"
    yield b"--b--\r\n"


def test_body_limits_hold_while_the_body_streams(srv):
    rss0 = _rss_kb(srv["proc"].pid)
    big = 10 * 1024 * 1024
    cases = [  # (path, body, headers)
        ("/api/ask", _chunked(big), {"content-type": "application/json"}),  # chunked: no Content-Length
        ("/api/ask", b"x" * (100 * 1024), {"content-type": "application/json"}),
        ("/gradio_api/queue/join", b"x" * big, {"content-type": "application/json"}),
        ("/gradio_api/call/chat", _chunked(big), {"content-type": "application/json"}),
        ("/gradio_api/upload", _multipart(7, 4_500_000), {"content-type": "multipart/form-data; boundary=b"}),
        ("/embed/gradio_api/queue/join", _chunked(big), {"content-type": "application/json"}),
    ]
    for path, body, headers in cases:
        try:
            r = httpx.post(srv["url"] + path, content=body, headers=headers, timeout=30)
            assert r.status_code == 413, (path, r.status_code, r.text[:200])
            assert "request body over" in r.json()["error"], r.text[:200]
        except (httpx.RemoteProtocolError, httpx.WriteError):
            pass  # the server answered 413 and closed while the client was still sending: also refused
    # One file over 5 MB is Gradio's own refusal (413 too).
    r = httpx.post(srv["url"] + "/gradio_api/upload", content=_multipart(1, 6_000_000),
                   headers={"content-type": "multipart/form-data; boundary=b"}, timeout=30)
    assert r.status_code == 413
    assert _rss_kb(srv["proc"].pid) - rss0 < 40_000, "the server buffered a refused body"
    r = httpx.post(srv["url"] + "/api/ask", json={"question": "who criticised Hegseth?"}, timeout=60)
    assert r.status_code == 200  # and it still answers


def test_header_lies_are_not_trusted(srv):
    for length in (b"-1", b"abc", b"99999999999999999999"):
        status = _raw(srv, b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Content-Length: " + length + b"\r\nConnection: close\r\n\r\n" + b'{"question": "hi"}')
        assert status in (400, 413), (length, status)
    r = httpx.get(srv["url"] + "/embed.html", headers={"host": 'evil.test"><script>alert(1)</script>'}, timeout=10)
    assert r.status_code in (200, 400) and "evil.test" not in r.text and "<script>alert" not in r.text
    r = httpx.get(srv["url"] + "/embed.html", headers={"host": "news.example.com:8443"}, timeout=10)
    assert r.status_code == 200 and 'src="http://news.example.com:8443/widget"' in r.text


def test_only_the_widget_gate_may_be_framed_anywhere_and_the_origin_a_visitor_types_is_text(srv):
    gate = httpx.get(srv["url"] + "/widget", timeout=10)
    assert gate.headers["content-security-policy"] == "frame-ancestors *"
    assert "<input" not in gate.text and "<form" not in gate.text  # nothing in it to click into doing
    for path in ("/", "/embed/", "/embed.html"):
        assert "frame-ancestors 'self'" in httpx.get(srv["url"] + path, timeout=10).headers["content-security-policy"]
    evil = 'https://x.test/"><script>alert(1)</script>'
    r = httpx.get(srv["url"] + "/embed.html", params={"origin": evil}, timeout=10)
    assert r.status_code == 200 and "<script>alert" not in r.text and "&lt;script&gt;" in r.text
    r = httpx.get(srv["url"] + "/embed.html", params={"origin": "javascript:alert(1)"}, timeout=10)
    assert "not a web address" in r.text and "--allow-origin javascript" not in r.text
    r = httpx.get(srv["url"] + "/embed.html", params={"origin": "News.Example.com:8443/some/page?x=1"}, timeout=10)
    assert "<pre>rag serve --allow-origin https://news.example.com:8443</pre>" in r.text


@pytest.mark.parametrize("raw", [b'{"question": "who \\ud800 criticised Hegseth?"}',
                                 b'{"question": "\\udfff"}', b'{"question": "ok", "history": [{"role": "user", '
                                                             b'"content": "\\ud800"}]}'])
def test_lone_surrogates_are_bad_input_not_a_500(srv, raw):
    r = httpx.post(srv["url"] + "/api/ask", content=raw, headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert "not valid UTF-8" in r.json()["error"]
    else:
        json.dumps(r.json(), ensure_ascii=False).encode("utf-8")  # whatever comes back is valid text


def test_server_picks_up_a_cli_update_within_seconds(srv, tmp_path):
    before = _health(srv)
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "council.txt").write_text("Council approves cycle lane\nThe Leith council approved the cycle lane on "
                                       "Tuesday. The lane will cost 2.4 million pounds, councillor Ada Moffat said.\n")
    stop = threading.Event()
    statuses = []

    def keep_asking():
        while not stop.is_set():
            r = httpx.post(srv["url"] + "/api/ask", json={"question": "who criticised Hegseth?"}, timeout=60)
            statuses.append(r.status_code)

    with cf.ThreadPoolExecutor(2) as pool:
        askers = [pool.submit(keep_asking) for _ in range(2)]
        out = run_cli("index", srv["root"] / "seeds", extra, "--index", srv["index"], "--json")
        done = time.monotonic()
        assert out.returncode == 0, out.stderr
        seen = None
        while time.monotonic() - done < 5:
            h = _health(srv)
            if h["index_version"] != before["index_version"]:
                seen = time.monotonic() - done
                break
            time.sleep(0.2)
        time.sleep(1)
        stop.set()
        for a in askers:
            a.result()
    assert seen is not None, "the server still serves the old version 5 s after rag index finished"
    assert _health(srv)["documents"] == before["documents"] + 1
    assert statuses and set(statuses) == {200}, statuses  # no request failed across the swap
    answer = httpx.post(srv["url"] + "/api/ask", json={"question": "How much will the cycle lane cost?"},
                        timeout=60).json()
    assert any("2.4 million" in c["sentence"] for c in answer["citations"])


def test_a_paste_during_a_cli_run_waits_and_both_are_kept(srv, tmp_path):
    from rag.index import files as index_io

    before = _health(srv)["documents"]
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "ferry.txt").write_text("Ferry service resumes\nThe Leith ferry service resumed on Friday, "
                                     "operator Iona Baird said.\n")
    cli = subprocess.Popen([sys.executable, "-m", "rag", "index", str(srv["root"] / "seeds"), str(extra),
                            "--index", str(srv["index"])], cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while f'"pid": {cli.pid}' not in (srv["index"] / "LOCK").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)  # the CLI holds the lock (loading the model, embedding)
    assert cli.poll() is None, "the CLI run ended before the paste could overlap it"
    reply = _call(srv, "add", [[], "Bridge repairs finish\nRepairs to the Dock Street bridge finished on "
                                   "Thursday, engineer Tomas Reid said."])
    cli.communicate(timeout=300)
    assert cli.returncode == 0 and reply.startswith("Added 1 article(s)"), reply
    on_disk = {d.title for d in index_io.load(srv["index"]).documents}
    assert {"Ferry service resumes", "Bridge repairs finish"} <= on_disk
    time.sleep(3)
    assert _health(srv)["documents"] == before + 2 == len(on_disk)


def test_client_errors_name_no_server_path(srv):
    version = _health(srv)["index_version"]
    target = srv["index"] / version / "chunks.faiss"
    saved = target.read_bytes()
    target.write_bytes(saved[:-10] + b"0123456789")  # damaged on disk; the server holds it in memory
    try:
        reply = _call(srv, "add", [[], "Harbour news\nThe harbour reopened on Monday after the storm."])
        answer = httpx.post(srv["url"] + "/api/ask", json={"question": "who criticised Hegseth?"}, timeout=60)
    finally:
        target.write_bytes(saved)
    assert reply.startswith("⚠️") and "nothing was added" in reply
    assert "/" not in reply.replace("</", "") and str(srv["root"]) not in reply, reply
    assert answer.status_code == 200 and answer.json()["found"]
    assert _health(srv)["index_version"] == version
    assert "chunks.faiss" in srv["log"].read_text()  # the details are in the server's log


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=1200),
                     lambda inner: st.lists(inner, max_size=5)
                     | st.dictionaries(st.sampled_from(["question", "history", "role", "content", "type", "text"])
                                       | st.text(max_size=10), inner, max_size=5), max_leaves=30)
_bodies = st.one_of(
    st.dictionaries(st.sampled_from(["question", "history"]), _json, max_size=2).map(lambda d: json.dumps(d).encode()),
    st.builds(lambda q, h: json.dumps({"question": q, "history": h}).encode(), st.text(max_size=1500),
              st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "x"]),
                                               "content": _json}), max_size=6)),
    st.binary(max_size=3000),
    st.text(max_size=200).map(lambda t: ('{"question": "' + t + '"}').encode("utf-8", "surrogatepass")),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(body=_bodies)
def test_fuzzed_api_bodies_get_an_answer_or_a_400_never_a_500(srv, body):
    version = srv.setdefault("fuzz_version", _health(srv)["index_version"])
    r = httpx.post(srv["url"] + "/api/ask", content=body, headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code in (200, 400, 413), (r.status_code, r.text[:300])
    data = r.json()
    assert "Traceback" not in r.text and str(ROOT) not in r.text
    assert ("error" in data) == (r.status_code != 200)
    assert _health(srv)["index_version"] == version
