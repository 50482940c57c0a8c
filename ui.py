"""The Gradio chat: a thin layer over the `rag` engine (no retrieval logic here).

Run it through `rag serve`, which mounts it with the HTTP API; `python ui.py` also works.
"""

from __future__ import annotations

import hashlib
import html
import logging
import queue
import re
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path

import gradio as gr
import numpy as np

from rag import Engine, InputError, RagError
from rag.app import feedback
from rag.engine import MAX_QUESTION_CHARS
from rag.errors import IndexBusy
from rag.question.filters import parse_filters
from rag.records import Document
from rag.text.ingest import from_text, load_file

log = logging.getLogger("rag.ui")
EXAMPLES = ["who criticised Hegseth?", "What did McFaul ask?", "Who is Stephen Wertheim?",
            "How much of Ukraine does Russia occupy?"]
MAX_HISTORY_TURNS = 20
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_PASTE_CHARS = 200_000
MAX_UPLOAD_FILES = 5  # per "Add" (the server caps one upload request at 25 MB)
LOCK_WAIT_SECONDS = 120  # an "Add" waits this long for another writer (a `rag index` run), then says so
# One pass over the text: HTML's specials and markdown's punctuation become entities together, so no
# entity made for one is escaped again by the other (html.escape then a markdown pass showed "&#x27;").
_ENTITIES = str.maketrans({**{c: f"&#{ord(c)};" for c in "\\`*_[]()!#|~$"},
                           "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})
CONTEXT_CHARS = 220  # of a cited sentence's paragraph shown on each side of it
DRAFT_NOTE = "Drafting: not yet checked against the sources; unsupported claims will be removed."


def escape(text: str) -> str:
    """HTML-escape and neutralise markdown: article text always shows as text, never as markup.

    Markdown punctuation becomes numeric entities, and "://" and "www." are broken up so the
    renderer's autolinker does not turn a URL in an article into a live link.
    """
    return text.translate(_ENTITIES).replace("://", "&#58;//").replace("www.", "www&#46;")


def _unbracket(text: str) -> str:
    """Escaped text with its [n] citation markers readable again (brackets alone make no markup)."""
    return text.replace("&#91;", "[").replace("&#93;", "]")


def _paragraph(doc_text: str, start: int, end: int) -> tuple[str, str, str]:
    """The line (paragraph) around a sentence, split into before / sentence / after, each side cut
    to about `CONTEXT_CHARS` at a space: a long paragraph would make one answer a page tall."""
    p0 = doc_text.rfind("\n", 0, start) + 1
    p1 = doc_text.find("\n", end)
    p1 = len(doc_text) if p1 < 0 else p1
    before, after = doc_text[p0:start], doc_text[end:p1]
    if len(before) > CONTEXT_CHARS:
        cut = before.find(" ", len(before) - CONTEXT_CHARS)
        before = "… " + before[cut + 1:] if cut >= 0 else before
    if len(after) > CONTEXT_CHARS:
        cut = after.rfind(" ", 0, CONTEXT_CHARS)
        after = after[:cut] + " …" if cut > 0 else after
    return before, doc_text[start:end], after


def _link_markers(escaped: str, key: str, cites: dict) -> str:
    """Escaped text with each [n] of a cited sentence made a link to that source in this answer."""
    def link(m: re.Match) -> str:
        c = cites.get(int(m.group(1)))
        if c is None:
            return f"[{m.group(1)}]"
        return f'<a class="rag-cite" href="#{key}-{c.n}">[{c.n}]</a>'

    return re.sub(r"&#91;(\d+)&#93;", link, escaped)


def upload_root() -> Path:
    """The folder Gradio saves this server's uploads in (`rag serve` gives each server its own)."""
    return Path(gr.utils.get_upload_folder()).resolve()


def uploaded_file(f) -> Path:
    """The path of a file a client uploaded through this server, or InputError.

    Gradio hands the handler whatever path the client's request names, and its own check runs only
    for apps started with `launch()`, not mounted ones: so any path outside the upload folder is
    refused here, with the same words whether or not it exists.
    """
    raw = f if isinstance(f, str) else (getattr(f, "path", None) or getattr(f, "name", None) or "")
    name = Path(str(raw)).name.encode("utf-8", "replace").decode("utf-8")[:200] or "(no name)"
    refused = InputError(f"{name}: not a file uploaded through this page")
    try:
        path = Path(str(raw))
        real = path.resolve(strict=True)
        if path.is_symlink() or upload_root() not in real.parents or not real.is_file():
            raise refused
    except (OSError, RuntimeError, ValueError):
        raise refused from None
    return real


def render_sources(engine: Engine, answer, show_scores: bool = False, related: bool = False, key: str = "") -> str:
    """The cited sentences (or, with `related`, the retrieved ones the answer does not cite) grouped
    by article: one collapsible card per article (title, outlet, date, link to the original) listing
    its sentences, each highlighted inside its paragraph. `key` makes each sentence's id unique
    in the page, for the answer's [n] links."""
    cites = answer.related if related else answer.citations
    if not cites:
        return ""
    docs = {d.doc_id: d for d in (answer.documents if answer.documents is not None else engine.documents)}
    by_article: dict[str, list] = {}
    for c in cites:
        by_article.setdefault(c.doc_id, []).append(c)
    parts = ['<div class="rag-sources">']
    for doc_id, group in by_article.items():
        first = group[0]
        meta = " · ".join(escape(x) for x in (first.source, first.published[:10]) if x)
        n = len(group)
        parts.append(f'<details class="rag-article" open><summary><span class="rag-title">{escape(first.title)}</span>'
                     f'{f" <span class=rag-meta>{meta}</span>" if meta else ""}'
                     f' <span class="rag-count">{n} sentence{"s" if n > 1 else ""}</span></summary>')
        if first.url.startswith(("http://", "https://")):
            parts.append(f'<div class="rag-link"><a href="{html.escape(first.url, quote=True)}" target="_blank" '
                         f'rel="noopener noreferrer">Original article</a></div>')
        doc = docs.get(doc_id)
        for c in group:
            before, sent, after = _paragraph(doc.text, c.start, c.end) if doc else ("", c.sentence, "")
            score = f' <span class="rag-score">score {c.score:.3f}</span>' if show_scores else ""
            parts.append(
                f'<div class="rag-source" id="{key}-{c.n}" data-n="{c.n}" tabindex="-1"><span class="rag-n">[{c.n}]</span>{score} '
                f'<span class="rag-para">{escape(before)}<mark class="rag-cited">{escape(sent)}</mark>{escape(after)}'
                f"</span></div>")
        parts.append("</details>")
    parts.append("</div>")
    return "".join(parts)


def format_answer(engine: Engine, answer, show_scores: bool = False, key: str | None = None) -> str:
    """The answer card: the stated answer first, then the sentences that support it, each [n] a
    link to its source; then the cited sources grouped by article, and the related passages."""
    key = key or f"rag-{uuid.uuid4().hex[:10]}"
    cites = {c.n: c for c in answer.citations}
    lines = []
    if answer.rewritten:
        lines.append(f"<i>Searched for: {escape(answer.rewritten)}</i>")
    card = [f'<div class="rag-card" id="{key}">']
    body = answer.answer
    if answer.lead and body.startswith(answer.lead):
        card.append(f'<p class="rag-lead">{_link_markers(escape(answer.lead), key, cites)}</p>')
        body = body[len(answer.lead):].strip()
    if body:
        card.append(f'<p class="rag-support">{_link_markers(escape(body), key, cites)}</p>')
    card.append("</div>")
    lines.append("".join(card))
    if answer.notice:
        lines.append(f"<i>{escape(answer.notice)}</i>")
    if answer.claims:
        # Words, not only symbols: a browser without an emoji font still says which claims were kept.
        marks = [f'<span class="rag-kept">✓ supported:</span> {escape(c["text"])}' if c["supported"] else
                 f'<span class="rag-removed">✗ removed:</span> {escape(c["text"])}' for c in answer.claims]
        lines.append("<b>Claims checked against their sources</b><br>" + "<br>".join(marks))
    sources = render_sources(engine, answer, show_scores, key=key)
    if sources:
        lines.append('<p class="rag-heading">Sources</p>' + sources)
    related = render_sources(engine, answer, show_scores, related=True, key=key)
    if related:
        lines.append(f'<details class="rag-related"><summary>Related passages ({len(answer.related)})</summary>'
                     f"{related}</details>")
    return "\n\n".join(lines)


CHAT_ADDED = ("upload/", "pasted/")  # the ids of articles added through the chat: the only ones it removes
LIST_ROWS = 100  # articles listed at once; the search narrows the rest
KEPT_ANSWERS = 500  # answers remembered for feedback (the newest; older ones are rated as unknown)
_KEY = re.compile(r"\brag-[0-9a-f]{10}\b")


class ChatApp:
    """State shared by the chat handlers: one engine, one write lock, the answers given lately."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.write_lock = threading.Lock()
        # key -> the answer's JSON: a rating is stored with what the server said, never with what
        # the client sends back as the message.
        self.answers: OrderedDict[str, dict] = OrderedDict()
        self._answers_lock = threading.Lock()

    def _card(self, answer, show_scores: bool) -> str:
        key = f"rag-{uuid.uuid4().hex[:10]}"
        with self._answers_lock:
            self.answers[key] = answer.to_json()
            while len(self.answers) > KEPT_ANSWERS:
                self.answers.popitem(last=False)
        return format_answer(self.engine, answer, show_scores, key=key)

    def rate(self, data: gr.LikeData) -> None:
        """A thumbs up or down on an answer: logged beside the index with the question, the answer and
        its citations as this server gave them. Ratings of anything else (an error message, an
        answer from before a restart) are not logged."""
        m = _KEY.search(str(data.value))
        with self._answers_lock:
            answer = self.answers.get(m.group(0)) if m else None
        if answer is None:
            return
        rating = "up" if data.liked is True else "down" if data.liked is False else "cleared"
        try:
            feedback.record(self.engine.index_dir, answer, rating)
        except OSError as e:
            log.error("feedback not saved: %s", e)

    def chat(self, message, history, show_scores=False, source="", since="", until=""):
        """Stream the answer text, then the answer with its sources. `source`, `since` and `until`
        are the filters of the chat's "Filters" panel (the widget has none)."""
        question = message if isinstance(message, str) else str((message or {}).get("text", ""))
        history = list(history or [])[-2 * MAX_HISTORY_TURNS:]
        try:
            filters = parse_filters(source or None, since or None, until or None)
        except InputError as e:
            yield f"⚠️ {escape(str(e))}"
            return
        if self.engine.llm is not None:
            yield from self._chat_generative(question, history, bool(show_scores), filters)
            return
        answer = self._ask(question, history, filters=filters)
        if isinstance(answer, str):
            yield answer
            return
        words = answer.answer.split(" ")
        step = max(1, len(words) // 8)
        for i in range(step, len(words), step):
            yield _unbracket(escape(" ".join(words[:i])))
            time.sleep(0.01)
        yield self._card(answer, bool(show_scores))

    def _ask(self, question: str, history: list, on_draft=None, filters=None):
        """The engine's answer, or the message to show instead of it (never a trace, never a path)."""
        try:
            return self.engine.ask(question, history=history, on_draft=on_draft, filters=filters)
        except InputError as e:  # a bad question, said plainly
            return f"⚠️ {escape(str(e))}"
        except RagError as e:  # index trouble: the details (with paths) go to the server's log
            log.error("%s", e)
            return "⚠️ The index is unavailable right now; please try again later."
        except Exception:
            log.exception("error while answering")
            return "⚠️ Something went wrong while answering; please try again."

    def _chat_generative(self, question: str, history: list, show_scores: bool, filters=None):
        """The model's words as they stream, marked unchecked; then the checked answer replaces them."""
        drafts: queue.Queue = queue.Queue()
        result: list = []

        def work():
            result.append(self._ask(question, history, on_draft=drafts.put, filters=filters))
            drafts.put(None)

        threading.Thread(target=work, daemon=True).start()
        while (draft := drafts.get()) is not None:
            while not drafts.empty():  # show only the newest text when pieces come faster than the page
                newer = drafts.get()
                if newer is None:
                    drafts.put(None)
                    break
                draft = newer
            yield f"{_unbracket(escape(draft))}\n\n<i>{DRAFT_NOTE}</i>"
        answer = result[0]
        yield answer if isinstance(answer, str) else self._card(answer, show_scores)

    def add(self, files, pasted: str, progress=gr.Progress()):
        """Index uploaded files or pasted text; answerable as soon as this returns."""
        docs, problems = [], []
        files = list(files or []) if isinstance(files, (list, tuple)) else [files] if files else []
        if len(files) > MAX_UPLOAD_FILES:
            return f"⚠️ {len(files)} files at once; add at most {MAX_UPLOAD_FILES} at a time"
        for f in files:
            try:
                path = uploaded_file(f)
                try:
                    label = path.name
                    docs += [d.__class__(**{**d.to_json(), "path": ""}) for d in
                             load_file(path, f"upload/{label}", label=label, max_bytes=MAX_UPLOAD_BYTES,
                                       max_chars=self.engine.max_document_chars)]
                finally:
                    path.unlink(missing_ok=True)  # read once; the index keeps the text
            except InputError as e:
                problems.append(str(e))
        if pasted and pasted.strip():
            if len(pasted) > MAX_PASTE_CHARS:
                problems.append(f"pasted text is over {MAX_PASTE_CHARS} characters")
            else:
                try:
                    docs.append(from_text(pasted, f"pasted/{hashlib.sha256(pasted.strip().encode('utf-8', 'replace')).hexdigest()[:16]}",
                                          max_chars=self.engine.max_document_chars))
                except InputError as e:
                    problems.append(str(e))
        if not docs:
            return "⚠️ " + escape("; ".join(problems) if problems else "choose a file or paste an article first")
        progress(0.1, desc="Indexing")
        try:
            with self.write_lock:
                report = self.engine.add_documents(
                    docs, lock_timeout=LOCK_WAIT_SECONDS,
                    on_wait=lambda _: progress(0.05, desc="Waiting for another update of the index to finish"))
        except IndexBusy:
            return ("⚠️ The index is being updated by another process; nothing was added. "
                    "Try again when it finishes.")
        except InputError as e:
            return f"⚠️ {escape(str(e))}"
        except RagError as e:
            log.error("%s", e)
            return "⚠️ The articles could not be added: the index cannot be written right now; nothing was added."
        progress(1.0)
        if report.embedded_documents == 0 and not problems:
            return f"Already in the index: nothing new was added (it holds {report.documents} articles)."
        msg = f"Added {len(docs)} article(s); the index now holds {report.documents}."
        return msg + (f" Skipped: {escape('; '.join(problems))}" if problems else "")

    # -- what is indexed ------------------------------------------------------------------------
    def listing(self, query: str = "") -> str:
        """The indexed articles (title, outlet, date, sentence count) whose title or outlet contains
        every word of `query`, newest first, as an HTML table."""
        try:
            data = self.engine.load()
        except RagError as e:
            log.error("%s", e)
            return "<p>The index is unavailable right now.</p>"
        sents = data.sentence_view
        counts = np.bincount(sents.doc[sents.citable == 1], minlength=len(data.documents))
        words = str(query or "")[:200].lower().split()
        rows = [(d, int(counts[i])) for i, d in enumerate(data.documents)
                if all(w in f"{d.title} {d.source}".lower() for w in words)]
        rows.sort(key=lambda r: r[0].published, reverse=True)
        if not rows:
            return f"<p>No indexed article matches “{escape(str(query).strip())}”.</p>"
        head = (f"<p>{len(rows)} of {len(data.documents)} articles" +
                (f"; the first {LIST_ROWS} shown, search to narrow them" if len(rows) > LIST_ROWS else "") + "</p>")
        body = "".join(
            f"<tr><td>{escape(d.title or d.doc_id)}</td><td>{escape(d.source)}</td><td>{escape(d.published[:10])}</td>"
            f"<td>{n}</td><td>{'added here' if d.doc_id.startswith(CHAT_ADDED) else 'indexed'}</td></tr>"
            for d, n in rows[:LIST_ROWS])
        return (f'{head}<table class="rag-list"><thead><tr><th scope="col">Title</th><th scope="col">Outlet</th>'
                f'<th scope="col">Date</th><th scope="col">Sentences</th><th scope="col">How</th></tr></thead>'
                f"<tbody>{body}</tbody></table>")

    def removable(self) -> list[tuple[str, str]]:
        """(label, doc id) of the articles added through the chat: the only ones it removes."""
        try:
            docs = self.engine.documents
        except RagError:
            return []
        return [(f"{d.title or d.doc_id}" + (f" ({d.published[:10]})" if d.published else ""), d.doc_id)
                for d in docs if d.doc_id.startswith(CHAT_ADDED)]

    def _held(self, doc_id) -> Document | None:
        """The chat-added article with this id, or None (the id comes from the client: checked here)."""
        if not isinstance(doc_id, str) or not doc_id.startswith(CHAT_ADDED):
            return None
        try:
            return next((d for d in self.engine.documents if d.doc_id == doc_id), None)
        except RagError:
            return None

    def confirm_removal(self, doc_id):
        """The question asked before anything is removed; (message, show the confirm buttons, id)."""
        doc = self._held(doc_id)
        if doc is None:
            return "⚠️ Choose an article you added here first.", False, None
        return (f"Remove “{escape(doc.title or doc.doc_id)}” from the index? Its sentences will no longer be "
                f"cited. This cannot be undone.", True, doc.doc_id)

    def remove(self, doc_id) -> str:
        """Remove one chat-added article, under the index's writer lock."""
        doc = self._held(doc_id)
        if doc is None:
            return "⚠️ That article is no longer in the index; nothing was removed."
        try:
            with self.write_lock:
                report = self.engine.remove_documents([doc.doc_id], lock_timeout=LOCK_WAIT_SECONDS)
        except IndexBusy:
            return "⚠️ The index is being updated by another process; nothing was removed. Try again when it finishes."
        except InputError:
            return "⚠️ That article is no longer in the index; nothing was removed."
        except RagError as e:
            log.error("%s", e)
            return "⚠️ The index cannot be written right now; nothing was removed."
        return f"Removed “{escape(doc.title or doc.doc_id)}”; the index now holds {report.documents} articles."


CSS = """
.message-wrap .prose.chatbot.md{opacity:1}  /* Gradio dims answers to 0.8: text fell below 4.5:1 */
.rag-card{margin:0 0 .6em}
.rag-lead{font-size:1.08em;font-weight:600;margin:0 0 .4em}
.rag-support{margin:0}
a.rag-cite{position:relative;text-decoration:underline;text-underline-offset:2px;font-weight:600;padding:0 .1em;
  border-radius:3px;color:#1d4ed8 !important}  /* over the chat's own link colour, 4.3:1 on its background */
a.rag-cite:hover,a.rag-cite:focus{text-decoration-thickness:2px}
#rag-question textarea::placeholder{color:#4b5563;opacity:1}
.dark #rag-question textarea::placeholder{color:#9ca3af}
a.rag-cite:focus-visible{outline:2px solid #2563eb;outline-offset:1px}
a.rag-cite:hover::after,a.rag-cite:focus::after{content:attr(aria-label);position:absolute;left:0;top:1.5em;
  z-index:20;width:min(22em,70vw);padding:.45em .6em;border-radius:6px;font-weight:400;font-size:.88em;
  line-height:1.35;white-space:normal;background:#111827;color:#f9fafb;box-shadow:0 2px 8px rgba(0,0,0,.3)}
.rag-heading{font-weight:700;margin:.6em 0 .2em}
details.rag-article{margin:.35em 0;padding:.3em .5em;border:1px solid var(--border-color-primary,#d1d5db);
  border-radius:6px}
details.rag-article>summary{cursor:pointer;line-height:1.35}
.rag-title{font-weight:600}
.rag-meta,.rag-count,.rag-link{font-size:.85em;opacity:.85}
.rag-count{margin-left:.3em}
/* The question's label, which the chat hides for screen readers only, shown to everyone. */
#rag-question [data-testid=block-info]{position:static;width:auto;height:auto;margin:0 0 .3em;clip:auto;
  overflow:visible;white-space:normal;display:block;font-size:.9em}
@media (max-width:640px){.message-row.bubble.bot-row{max-width:100%;margin-left:0;margin-right:0}}
@media (max-width:640px){.rag-title{display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical;
  overflow:hidden}.rag-para{font-size:.95em}}
.rag-source{margin:.35em 0;padding:.3em .5em;border-left:3px solid #b45309;font-size:.92em;scroll-margin:4em}
.rag-source.rag-flash{outline:3px solid #2563eb;outline-offset:2px}
.rag-n{font-weight:700}
mark.rag-cited{background:#fde68a;color:#1f2937;padding:0 .1em}
.rag-kept{color:#15803d;font-weight:600}
.rag-removed{color:#b91c1c;font-weight:600}
details.rag-related>summary{cursor:pointer;font-weight:600}
details.rag-related .rag-source{border-left-color:#6b7280}
.dark mark.rag-cited{background:#854d0e;color:#fefce8}
.dark a.rag-cite{color:#93c5fd !important}
.rag-danger{background:#b91c1c !important;border-color:#b91c1c !important;color:#fff !important}
.upload-container .or{color:#4b5563}
.dark .upload-container .or{color:#d1d5db}
.rag-sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.dark .rag-kept{color:#4ade80}
.dark .rag-removed{color:#f87171}
"""

# Behaviour the chat's markup cannot carry (the sanitiser drops inline handlers), delegated from the
# document so it holds for every answer: an [n] link opens, scrolls to and flashes its source; the
# input keeps focus across answers (it is disabled while one streams); a new question scrolls to
# the top of its answer, not to the bottom of its sources; empty input is not sent.
HEAD = """<style>
/* Outside the app's scoped CSS: Gradio's footer is #bbbbc2 on white (1.9:1). */
footer .show-api, footer .built-with, footer .settings{color:#4b5563 !important}
.dark footer .show-api, .dark footer .built-with, .dark footer .settings{color:#d1d5db !important}
</style>
<script>
(() => {
  const input = () => document.querySelector('#rag-question textarea');
  const marker = (e) => e.target.closest && e.target.closest('a.rag-cite');
  const source = (a) => document.getElementById(a.getAttribute('href').slice(1));  // its sentence
  const empty = () => { const box = input(); return box && !box.value.trim(); };
  document.addEventListener('click', (e) => {
    const a = marker(e);
    if (!a) return;
    e.preventDefault();
    const el = source(a);
    if (!el) return;
    for (let d = el.closest('details'); d; d = d.parentElement && d.parentElement.closest('details')) d.open = true;
    el.scrollIntoView({block: 'center'});
    el.classList.add('rag-flash');
    el.focus({preventScroll: true});
    setTimeout(() => el.classList.remove('rag-flash'), 2000);
  }, true);
  const unsent = (e) => { e.preventDefault(); e.stopImmediatePropagation(); };
  document.addEventListener('keydown', (e) => {
    if (e.target === input() && e.key === 'Enter' && !e.shiftKey && empty()) unsent(e);
  }, true);
  document.addEventListener('click', (e) => {
    if (e.target.closest && e.target.closest('button.submit-button') && empty()) unsent(e);
  }, true);
  // The sanitiser drops title, aria- and data- attributes: a marker's tip (the cited sentence, its
  // outlet and date) is read from its source when it is first hovered or focused.
  const tip = (e) => {
    const a = marker(e);
    if (!a || a.hasAttribute('aria-label')) return;
    const el = source(a);
    const mark = el && el.querySelector('mark');
    if (!mark) return;
    let s = mark.textContent.trim();
    if (s.length > 200) s = s.slice(0, 200).replace(/\\s+\\S*$/, '') + ' …';
    const meta = el.closest('details') && el.closest('details').querySelector('.rag-meta');
    a.setAttribute('aria-label', `source ${a.textContent.replace(/\\D/g, '')}: “${s}”` +
                   (meta ? ` (${meta.textContent.trim()})` : ''));
  };
  document.addEventListener('mouseover', tip, true);
  document.addEventListener('focusin', tip, true);
  let seen = 0;
  new MutationObserver(() => {
    const box = input();
    const asked = document.querySelectorAll('.message-row.user-row');
    if (asked.length > seen) {
      seen = asked.length;
      asked[asked.length - 1].scrollIntoView({block: 'start'});
    }
    // Gradio marks the example buttons up as a list without list items: a group is what they are.
    for (const ex of document.querySelectorAll('.examples[role=list]')) {
      ex.setAttribute('role', 'group');
      ex.setAttribute('aria-label', 'Example questions');
    }
    for (const img of document.querySelectorAll('footer img[alt=Settings]')) img.alt = '';  // its button says it
    // The upload area's label differs from the words it shows; the words are its name.
    for (const up of document.querySelectorAll('button.upload-container[aria-label]')) up.removeAttribute('aria-label');
    const idle = !document.activeElement || document.activeElement === document.body;
    if (box && !box.disabled && idle) box.focus({preventScroll: true});
  }).observe(document.documentElement, {subtree: true, childList: true, attributes: true,
                                          attributeFilter: ['disabled']});
})();
</script>"""


def _header(engine: Engine) -> str:
    """The page's one h1 and what is indexed."""
    try:
        n = len(engine.documents)
    except RagError:
        n = 0
    what = f"{n} article{'s' if n != 1 else ''} indexed" if n else "No articles indexed yet"
    return ("# Ask the news\n"
            f"Answers quote the exact sentences they come from; when the articles do not say, the answer "
            f"says so. **{what}**; add your own under *Add articles*.")


def _validate_question(message, *_):
    """Checked in the page before the question is sent: nothing happens on empty input, and an
    over-long question is refused with its length instead of being cut."""
    text = (message if isinstance(message, str) else str((message or {}).get("text", ""))).strip()
    if len(text) > MAX_QUESTION_CHARS:
        return gr.validate(False, f"The question is {len(text):,} characters; the limit is "
                                  f"{MAX_QUESTION_CHARS:,}. Please shorten it.")
    return gr.validate(bool(text), "Type a question first.")


def build(engine: Engine, compact: bool = False) -> gr.Blocks:
    """The chat (and, unless compact, the article list and upload panels) as Gradio Blocks."""
    app = ChatApp(engine)
    with gr.Blocks(title="News Q&A with cited sentences", fill_height=True) as demo:
        # One h1 on each page; in the widget it is for screen readers only.
        header = gr.HTML('<h1 class="rag-sr">Ask the news</h1>', padding=False) if compact \
            else gr.Markdown(_header(engine))
        # The compact widget has no settings: every pixel goes to the answer and its sources.
        # render=False: ChatInterface places them in its accordion, below the chat.
        extra = [] if compact else [
            gr.Checkbox(label="Show scores", value=False, render=False),
            # Empty values by default: API clients that send only (message, show_scores) still work.
            gr.Textbox(label="Only these outlets (comma-separated)", max_lines=1, value="", render=False),
            gr.Textbox(label="Published since (YYYY-MM-DD)", max_lines=1, value="", render=False),
            gr.Textbox(label="Published until (YYYY-MM-DD)", max_lines=1, value="", render=False),
        ]
        chat = gr.ChatInterface(
            app.chat,
            api_name="chat",
            # None for the checkbox: the examples show as buttons in the empty chat, not as a table.
            examples=EXAMPLES[:2] if compact else [[q, None, None, None, None] for q in EXAMPLES],
            additional_inputs=extra,
            additional_inputs_accordion=gr.Accordion("Filters and scores", open=False, render=False),
            chatbot=gr.Chatbot(height=None if not compact else 420, sanitize_html=True, render_markdown=True,
                               label="Answers", autoscroll=False, buttons=["copy", "copy_all"],
                               placeholder="Ask a question about the indexed articles. Each answer cites the "
                                           "exact sentences it comes from."),
            # A visible label, and a send button that says what it does (an icon alone has no name).
            textbox=gr.Textbox(placeholder="Ask about the articles…", label="Your question", show_label=True,
                               submit_btn="Send", elem_id="rag-question"),
            validator=_validate_question,
            autoscroll=False,
            fill_height=True,
        )
        chat.chatbot.like(app.rate, None, None, api_visibility="undocumented", queue=False)
        if not compact:
            with gr.Accordion("Add articles", open=False):
                files = gr.File(file_count="multiple", file_types=[".txt", ".md", ".html", ".htm", ".json", ".jsonl"],
                                label="Upload .txt / .md / .html / .json (5 MB each)")
                pasted = gr.Textbox(lines=6, label="…or paste an article (first line is the title)")
                status = gr.Markdown()
                add = gr.Button("Add to the index")
            with gr.Accordion("Indexed articles", open=False):
                find = gr.Textbox(label="Search titles and outlets", max_lines=1, value="")
                listing = gr.HTML(padding=False)
                with gr.Row():
                    pick = gr.Dropdown(label="Remove an article you added here", choices=[], value=None, scale=3)
                ask_remove = gr.Button("Remove…", variant="stop", size="md", elem_classes="rag-danger")
                pending = gr.State(None)  # the article the confirmation is about, kept on the server
                with gr.Group(visible=False) as confirm:
                    question = gr.Markdown()
                    with gr.Row():
                        yes = gr.Button("Yes, remove it", variant="stop", elem_classes="rag-danger")
                        no = gr.Button("Cancel")
                removed = gr.Markdown()

            def refreshed(query):  # header, list and the removable articles, after any change
                return _header(engine), app.listing(query), gr.update(choices=app.removable(), value=None)

            hidden = dict(api_visibility="undocumented", queue=False, show_progress="hidden")

            def after_add(msg, query):  # the boxes cleared and what is indexed shown, in one update
                done = msg.startswith(("Added", "Already"))
                return (gr.update(value=None) if done else gr.update(), gr.update(value="") if done else gr.update(),
                        *refreshed(query))

            add.click(app.add, [files, pasted], status, api_name="add").then(
                after_add, [status, find], [files, pasted, header, listing, pick], **hidden)
            gr.on([find.change, find.submit], app.listing, find, listing, **hidden)  # Enter searches again too

            def asked(doc_id):
                msg, show, target = app.confirm_removal(doc_id)
                return (gr.update(value=msg if show else ""), gr.update(visible=show), target,
                        gr.update(value="" if show else msg))

            ask_remove.click(asked, pick, [question, confirm, pending, removed], **hidden)
            yes.click(lambda target: (app.remove(target), gr.update(visible=False), None), pending,
                      [removed, confirm, pending], api_visibility="undocumented").then(
                refreshed, find, [header, listing, pick], **hidden)
            no.click(lambda: (gr.update(visible=False), None, ""), None, [confirm, pending, removed], **hidden)
            demo.load(refreshed, find, [header, listing, pick], **hidden)
        del chat
    return demo


if __name__ == "__main__":
    import sys

    from rag.app.cli import main

    sys.exit(main(["serve", *sys.argv[1:]]))
