"""A real browser (Playwright driving Debian's Chromium) against a real `rag serve`."""

import contextlib
import functools
import http.server
import json
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


BOX = "#rag-question textarea"  # the chat's input (its placeholder is cleared while an answer streams)


def ask(frame, question):
    box = frame.locator(BOX)
    box.fill(question)
    box.press("Enter")


@contextlib.contextmanager
def host_page(server, tmp_path, width: int, height: int, port: int | None = None):
    """Another site's page framing the widget with the snippet /embed.html gives, at width x
    height, on the allowed origin (or on `port`, an origin the server does not allow); its URL."""
    port = port or server["host_port"]
    (tmp_path / "index.html").write_text(
        "<!doctype html><html lang=en><meta charset=utf-8><title>Host</title><h1>My site</h1>"
        f'<iframe id="w" title="News Q&amp;A" src="{server["url"]}/widget" '
        f'style="width:{width}px;height:{height}px;border:0"></iframe>', encoding="utf-8")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    host = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=host.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}/index.html"
    finally:
        host.shutdown()


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
    with host_page(server, tmp_path, 440, 700) as url:
        page.goto(url)
        frame = page.frame_locator("#w")
        ask(frame, QUESTION)
        frame.locator("mark.rag-cited", has_text="Gabrielius Landsbergis").first.wait_for(timeout=60_000)
        page.screenshot(path=str(SHOTS / "widget-in-host-page.png"), full_page=True)


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


# -- issue 16: the answer card, grouped sources and the display bugs a reader met first ---------
APOSTROPHE = ("Riverside ferry timetable\n"
              "The harbour master said the ferry didn't run on Sunday because the pier's lights failed. "
              "Passengers weren't told until the morning.\n")


def test_answer_card_links_each_marker_to_its_source_grouped_by_article(server, page):
    page.goto(server["url"] + "/")
    ask(page, QUESTION)
    card = page.locator(".rag-card").last
    card.wait_for(timeout=60_000)
    page.locator(".rag-lead", has_text="Gabrielius Landsbergis").last.wait_for(timeout=30_000)
    # Only the cited sentences, one card per article (the seed is one article).
    sources = page.locator(".rag-sources").first
    assert sources.locator("details.rag-article").count() == 1
    assert sources.locator(".rag-source").count() == page.locator(".rag-support a.rag-cite").count()
    link = page.locator(".rag-support a.rag-cite", has_text="[2]").last
    # Hovering (or focusing) a marker shows the cited sentence.
    link.hover()
    assert link.get_attribute("aria-label").startswith("source 2: “")
    assert link.evaluate("e => getComputedStyle(e, '::after').content").startswith('"source 2: “')
    # Collapse the article first: the link must open it again.
    sources.locator("details.rag-article > summary").first.click()
    link.click()
    target = page.locator(".rag-source.rag-flash")
    target.wait_for(timeout=5_000)
    assert target.get_attribute("id").endswith("-2")
    assert target.is_visible() and target.evaluate("e => e.closest('details').open")
    assert page.evaluate("document.activeElement.id").endswith("-2")
    page.screenshot(path=str(SHOTS / "answer-card.png"))


def test_keyboard_only_ask_and_follow_up_keeps_focus_in_the_box(server, page):
    page.goto(server["url"] + "/")
    box = page.locator(BOX)
    box.wait_for(timeout=30_000)
    box.focus()
    page.keyboard.type("What did McFaul ask?")
    page.keyboard.press("Enter")
    page.locator(".rag-card").first.wait_for(timeout=60_000)
    page.wait_for_function("document.activeElement && document.activeElement.matches('#rag-question textarea')"
                           " && !document.activeElement.disabled", timeout=30_000)
    # An empty Enter adds nothing: no bubble, no error turn to break the follow-up.
    page.keyboard.press("Enter")
    page.wait_for_timeout(1500)
    assert page.locator(".message-row.user-row").count() == 1
    page.keyboard.type("who is he?")
    page.keyboard.press("Enter")
    page.locator(".rag-card").nth(1).wait_for(timeout=60_000)
    assert "McFaul" in page.locator(".message-row.bot-row").last.inner_text()


def test_an_over_long_question_is_refused_with_its_length_not_cut(server, page):
    page.goto(server["url"] + "/")
    ask(page, "why " * 300)
    page.get_by_text("the limit is 1,000").first.wait_for(timeout=30_000)
    assert page.locator(".message-row.user-row").count() == 0


def test_apostrophes_show_as_apostrophes_and_the_highlight_reads_in_dark_mode(server, browser):
    from gradio_client import Client

    status = Client(server["url"] + "/", verbose=False).predict([], APOSTROPHE, api_name="/add")
    assert status.startswith(("Added", "Already")), status
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    page = ctx.new_page()
    try:
        page.goto(server["url"] + "/?__theme=dark")
        ask(page, "Why didn't the Riverside ferry run on Sunday?")
        cited = page.locator("mark.rag-cited", has_text="didn't run")
        cited.first.wait_for(timeout=60_000)
        assert "&#" not in page.locator(".message-row.bot-row").last.inner_text()
        fg, bg = cited.first.evaluate("e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")
        assert contrast(fg, bg) >= 4.5, (fg, bg)
        # On a phone the answer takes the chat's width, not a bubble 60 px narrower.
        bubble, chat = page.evaluate("[document.querySelector('.message-row.bot-row').getBoundingClientRect().width,"
                                     " document.querySelector('.bubble-wrap').getBoundingClientRect().width]")
        assert bubble >= 0.95 * chat - 4, (bubble, chat)
        assert page.get_by_text("Your question", exact=True).is_visible()  # the input's label, shown
        page.screenshot(path=str(SHOTS / "phone-dark.png"))
    finally:
        ctx.close()


def test_pasting_an_article_twice_indexes_it_once_and_clears_the_box(server, page):
    text = "Tidewater library reopens\nThe Tidewater library reopened on Monday after a two-year repair of its roof.\n"
    page.goto(server["url"] + "/")
    page.get_by_role("button", name="Add articles").click()
    pasted = page.get_by_label("…or paste an article (first line is the title)")
    pasted.fill(text)
    page.get_by_role("button", name="Add to the index").click()
    page.get_by_text("Added 1 article").wait_for(timeout=60_000)
    page.wait_for_function("[...document.querySelectorAll('textarea')].every(t => !t.value.includes('Tidewater'))",
                           timeout=10_000)
    count = page.locator("h1 + p strong, p strong").first.inner_text()
    pasted.fill(text)
    page.get_by_role("button", name="Add to the index").click()
    page.get_by_text("Already in the index").wait_for(timeout=60_000)
    assert page.locator("p strong").first.inner_text() == count


def test_the_chat_comes_before_its_settings_and_says_what_is_indexed(server, page):
    page.goto(server["url"] + "/")
    page.locator(BOX).wait_for(timeout=30_000)
    assert page.locator("h1").count() == 1
    assert page.get_by_text("articles indexed").or_(page.get_by_text("article indexed")).count() >= 1
    chat_y = page.locator(BOX).bounding_box()["y"]
    scores = page.get_by_text("Filters and scores").bounding_box()["y"]
    assert chat_y < scores
    assert not page.get_by_label("Show scores").is_visible()  # inside the closed accordion


def test_widget_keeps_the_answer_in_view(server, page, tmp_path):
    with host_page(server, tmp_path, 390, 640) as url:
        page.goto(url)
        frame = page.frame_locator("#w")
        ask(frame, QUESTION)
        frame.locator(".rag-sources").first.wait_for(timeout=60_000)
        page.wait_for_timeout(1000)
        lead = frame.locator(".rag-card").last
        assert lead.evaluate("e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.top < innerHeight; }")
        assert frame.get_by_text("Built with Gradio").count() == 0
        page.screenshot(path=str(SHOTS / "widget-answer-in-view.png"))


def contrast(fg: str, bg: str) -> float:
    """WCAG contrast ratio of two CSS rgb()/rgba() colours."""
    def lum(css):
        r, g, b = (float(x) / 255 for x in css[css.index("(") + 1:css.index(")")].split(",")[:3])
        f = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * f[0] + 0.7152 * f[1] + 0.0722 * f[2]
    a, b = sorted((lum(fg), lum(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def test_a_site_not_allowed_sees_in_the_frame_which_flag_to_add(server, page, tmp_path):
    port = free_port()
    with host_page(server, tmp_path, 440, 500, port=port) as url:
        page.goto(url)
        frame = page.frame_locator("#w")
        frame.get_by_text("This chat is not enabled on this site").wait_for(timeout=30_000)
        flag = frame.locator("#flag").inner_text()
        assert flag == f"--allow-origin http://127.0.0.1:{port}"
        page.screenshot(path=str(SHOTS / "widget-not-allowed.png"))
        help_url = frame.locator("#help").get_attribute("href")
    page.goto(f"{server['url']}/{help_url}")
    assert page.locator("pre", has_text=f"rag serve --allow-origin http://127.0.0.1:{port}").count() == 1
    assert server["allowed"] in page.locator("main").inner_text()  # what is allowed now


def record_calls(page) -> list:
    """The page's event calls from now on (fn_index, inputs, then the answer's status), for a failure's message."""
    calls = []

    def sent(req):
        if req.method == "POST" and "/run/predict" in req.url:
            calls.append(["sent", (req.post_data or "")[:120]])

    def answered(resp):
        if "/run/predict" in resp.url:
            calls.append(["answered", resp.status, (resp.request.post_data or "")[:120]])

    page.on("request", sent)
    page.on("response", answered)
    return calls


def test_the_article_list_searches_and_removes_an_article_added_here_after_asking(server, page):
    text = "Marrow Street mural unveiled\nThe Marrow Street mural by Ines Okafor was unveiled on Friday.\n"
    page.goto(server["url"] + "/")
    page.get_by_role("button", name="Add articles").click()
    page.get_by_label("…or paste an article (first line is the title)").fill(text)
    page.get_by_role("button", name="Add to the index").click()
    page.get_by_text("Added 1 article").wait_for(timeout=60_000)
    page.get_by_role("button", name="Indexed articles").click()
    table = page.locator("table.rag-list")
    table.locator("tr", has_text="Marrow Street mural unveiled").wait_for(timeout=30_000)
    assert table.locator("tr", has_text="Marrow Street mural unveiled").count() == 1
    calls = record_calls(page)
    page.get_by_label("Search titles and outlets").fill("ukraine CONCESSIONS")
    page.get_by_label("Search titles and outlets").press("Enter")
    # 30 s, as the other waits on a server answer here: CI's busier machine once took longer than 10 s.
    try:
        page.wait_for_function("!document.querySelector('table.rag-list').innerText.includes('Marrow')", timeout=30_000)
    except Exception:  # CI lost this search twice in ~30 runs; say what the page sent and got, not just "timeout"
        pytest.fail(f"the search did not narrow the list; event calls: {calls}; list: {table.inner_text()[:300]!r}")
    assert table.locator("tbody tr", has_text="early concessions to Russia").count() == 1  # the seed
    page.get_by_label("Search titles and outlets").fill("zzz no such words")
    page.get_by_text("No indexed article matches").wait_for(timeout=10_000)
    page.get_by_label("Search titles and outlets").fill("")
    table.locator("tr", has_text="Marrow Street mural unveiled").wait_for(timeout=10_000)
    before = page.locator("p strong").first.inner_text()
    page.get_by_label("Remove an article you added here").click()
    page.get_by_role("option", name="Marrow Street mural unveiled").click()
    page.get_by_role("button", name="Remove…").click()
    page.get_by_text("This cannot be undone").wait_for(timeout=10_000)
    page.get_by_role("button", name="Cancel").click()
    page.get_by_text("This cannot be undone").wait_for(state="hidden", timeout=10_000)
    assert table.locator("tr", has_text="Marrow Street mural unveiled").count() == 1  # cancel keeps it
    page.get_by_role("button", name="Remove…").click()
    page.get_by_role("button", name="Yes, remove it").click()
    page.get_by_text("Removed “Marrow Street mural unveiled”").wait_for(timeout=60_000)
    table.locator("tr", has_text="Marrow Street mural unveiled").wait_for(state="detached", timeout=10_000)
    assert page.locator("p strong").first.inner_text() != before
    page.screenshot(path=str(SHOTS / "article-list.png"), full_page=True)
    ask(page, "Who painted the Marrow Street mural?")
    page.locator(".rag-card").last.wait_for(timeout=60_000)
    assert "Okafor" not in page.locator(".message-row.bot-row").last.inner_text()


def test_a_thumbs_down_is_logged_with_the_question_answer_and_citations(server, page):
    page.goto(server["url"] + "/")
    ask(page, "What did McFaul ask?")
    page.locator(".rag-card").last.wait_for(timeout=60_000)
    page.get_by_role("button", name="Dislike").last.click()
    log = server["root"] / "index" / "feedback.jsonl"
    for _ in range(50):
        if log.exists() and "McFaul" in log.read_text():
            break
        page.wait_for_timeout(200)
    out = subprocess.run([sys.executable, "-m", "rag", "feedback", "--index", str(server["root"] / "index"), "--json"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    entries = [json.loads(line) for line in out.stdout.splitlines()]
    mine = [e for e in entries if e["question"] == "What did McFaul ask?"]
    assert mine and mine[-1]["rating"] == "down" and mine[-1]["citations"], out.stdout + out.stderr
    assert "McFaul" in mine[-1]["answer"] and "127.0.0.1" not in log.read_text()


AXE = ROOT / ".cache" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("path", ["/", "/embed/"])
def test_no_serious_or_critical_accessibility_violations(server, browser, path, scheme):
    if not AXE.exists():
        pytest.skip("axe-core is not installed (dev.sh test runs: npm install --prefix .cache axe-core)")
    ctx = browser.new_context(viewport={"width": 1100, "height": 900}, color_scheme=scheme)
    page = ctx.new_page()

    def violations() -> list:
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        return [(v["id"], v["impact"], [(n["target"], n["html"][:160], n["failureSummary"][:240]) for n in v["nodes"]][:3])
                for v in result["violations"] if v["impact"] in ("serious", "critical")]

    try:
        page.goto(f"{server['url']}{path}?__theme={scheme}")
        page.locator(BOX).wait_for(timeout=30_000)
        page.wait_for_timeout(500)
        empty = violations()  # the empty chat with its examples
        ask(page, QUESTION)  # then the answer card and its sources
        page.locator(".rag-sources").first.wait_for(timeout=60_000)
        if path == "/":  # and the panels, open
            for panel in ("Add articles", "Indexed articles", "Filters and scores"):
                page.get_by_role("button", name=panel).click()
            page.locator("table.rag-list").wait_for(timeout=10_000)
        answered = violations()
        name = f"axe-{path.strip('/').replace('/', '-') or 'chat'}-{scheme}"
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        (SHOTS / f"{name}.json").write_text(json.dumps({"empty": empty, "answered": answered}, indent=1))
        assert not empty and not answered, (empty, answered)
    finally:
        ctx.close()
