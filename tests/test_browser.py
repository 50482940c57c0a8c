"""A real browser (Playwright driving Debian's Chromium) against a real `rag serve`."""

import functools
import http.server
import shutil
import subprocess
import sys
import threading

import pytest

from conftest import ROOT, SEEDS, free_port, wait_until_up

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = ROOT / "artifacts" / "screenshots"
QUESTION = "who criticised Hegseth?"
HOSTILE = ("Zorblat harbour incident\n"
           "The Zorblat harbour closed after a storm <img src=x onerror=\"window.__pwned=1\"> and "
           "<script>window.__pwned=2</script> officials posted ![pic](javascript:window.__pwned=3) and "
           "[a link](javascript:alert(1)) and ![remote](https://example.invalid/x.png) on the notice board.\n")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; dev.sh test does it as root)")
    pw_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test extra)")
    with pw_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={"width": 1100, "height": 900})
    p = ctx.new_page()
    p.dialogs = []
    p.on("dialog", lambda d: (p.dialogs.append(d.message), d.dismiss()))
    yield p
    ctx.close()


def ask(frame, question):
    box = frame.get_by_placeholder("Ask about the articles…")
    box.fill(question)
    box.press("Enter")


def test_chat_shows_answer_and_highlighted_sentence(server, page):
    page.goto(server["url"] + "/")
    example = page.get_by_text(QUESTION, exact=True).first  # an example button in the empty chat
    example.wait_for(timeout=30_000)
    page.screenshot(path=str(SHOTS / "chat-empty.png"), full_page=True)
    example.click()
    cited = page.locator("mark.rag-cited", has_text="Gabrielius Landsbergis")
    cited.first.wait_for(timeout=60_000)
    assert page.locator(".rag-source").count() >= 3
    page.screenshot(path=str(SHOTS / "chat.png"), full_page=True)


def test_widget_inside_a_host_page_on_another_port(server, page, tmp_path):
    (tmp_path / "index.html").write_text(
        "<!doctype html><meta charset=utf-8><title>Host</title><h1>My site</h1>"
        f'<iframe id="w" src="{server["url"]}/embed/" style="width:440px;height:700px;border:0"></iframe>',
        encoding="utf-8")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    host = http.server.ThreadingHTTPServer(("127.0.0.1", server["host_port"]), handler)
    threading.Thread(target=host.serve_forever, daemon=True).start()
    try:
        page.goto(f"http://127.0.0.1:{server['host_port']}/index.html")
        frame = page.frame_locator("#w")
        ask(frame, QUESTION)
        frame.locator("mark.rag-cited", has_text="Gabrielius Landsbergis").first.wait_for(timeout=60_000)
        page.screenshot(path=str(SHOTS / "widget-in-host-page.png"), full_page=True)
    finally:
        host.shutdown()


def test_hostile_article_renders_as_text(server, page, tmp_path):
    from gradio_client import Client

    status = Client(server["url"] + "/", verbose=False).predict([], HOSTILE, api_name="/add")
    assert status.startswith("Added"), status
    page.goto(server["url"] + "/")
    ask(page, "What happened at the Zorblat harbour?")
    cited = page.locator("mark.rag-cited", has_text="Zorblat harbour closed")
    cited.first.wait_for(timeout=60_000)
    text = cited.first.inner_text()
    assert "<img src=x onerror=" in text and "<script>" in text and "](javascript:" in text
    assert page.evaluate("window.__pwned") is None
    assert page.dialogs == []
    assert page.locator(".rag-sources img").count() == 0
    assert page.locator('a[href^="javascript"]').count() == 0
    assert page.locator('a[href*="example.invalid"], img[src*="example.invalid"]').count() == 0
    page.screenshot(path=str(SHOTS / "hostile-article.png"), full_page=True)


def test_llm_answer_streams_as_a_draft_then_shows_each_claims_check(stub, page, tmp_path):
    """`rag serve --llm-url`: the model's words appear while it writes, marked unchecked; then the
    checked answer replaces them, with the unsupported claim removed and listed as such."""
    handler, llm_url = stub
    handler.reply = ["Gabrielius Landsbergis criticised Hegseth on X, ", "saying it sounds like abandoning Ukraine [1][2][3]. ",
                     "Angela Merkel called the plan brilliant ", "at a rally in Berlin [1]."]
    handler.gap = 0.8
    shutil.copytree(SEEDS, tmp_path / "seeds")
    port = free_port()
    with open(tmp_path / "serve.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "rag", "serve", "--port", str(port), "--index",
                                 str(tmp_path / "index"), "--seeds", str(tmp_path / "seeds"), "--llm-url", llm_url],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_until_up(proc, url + "/health"), (tmp_path / "serve.log").read_text()
        page.goto(url + "/")
        ask(page, QUESTION)
        draft = page.get_by_text("Drafting: not yet checked against the sources")
        draft.first.wait_for(timeout=60_000)
        page.screenshot(path=str(SHOTS / "llm-draft.png"), full_page=True)
        page.get_by_text("✗ removed: Angela Merkel").first.wait_for(timeout=60_000)
        assert draft.count() == 0
        assert page.get_by_text("✓ supported: Gabrielius Landsbergis criticised Hegseth").count() == 1
        assert page.locator("mark.rag-cited", has_text="Gabrielius Landsbergis").count() >= 1
        page.screenshot(path=str(SHOTS / "llm-checked.png"), full_page=True)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
