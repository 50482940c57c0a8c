"""The Gradio chat: a thin layer over the `rag` engine (no retrieval logic here).

Run it through `rag serve`, which mounts it with the HTTP API; `python ui.py` also works.
"""

from __future__ import annotations

import html
import logging
import queue
import threading
import time
from pathlib import Path

import gradio as gr

from rag import Engine, InputError, RagError
from rag.engine import MAX_QUESTION_CHARS
from rag.errors import IndexBusy
from rag.filters import parse_filters
from rag.ingest import from_text, load_file

log = logging.getLogger("rag.ui")
EXAMPLES = ["who criticised Hegseth?", "What did McFaul ask?", "Who is Stephen Wertheim?",
            "How much of Ukraine does Russia occupy?"]
MAX_HISTORY_TURNS = 20
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_PASTE_CHARS = 200_000
MAX_UPLOAD_FILES = 5  # per "Add" (the server caps one upload request at 25 MB)
LOCK_WAIT_SECONDS = 120  # an "Add" waits this long for another writer (a `rag index` run), then says so
_MD_SPECIAL = {c: f"&#{ord(c)};" for c in "\\`*_[]()!#|~$"}
DRAFT_NOTE = "Drafting: not yet checked against the sources; unsupported claims will be removed."


def escape(text: str) -> str:
    """HTML-escape and neutralise markdown: article text always shows as text, never as markup.

    Markdown punctuation becomes numeric entities, and "://" and "www." are broken up so the
    renderer's autolinker does not turn a URL in an article into a live link.
    """
    out = "".join(_MD_SPECIAL.get(c, c) for c in html.escape(text, quote=True))
    return out.replace("://", "&#58;//").replace("www.", "www&#46;")


def _unbracket(text: str) -> str:
    """Escaped text with its [n] citation markers readable again (brackets alone make no markup)."""
    return text.replace("&#91;", "[").replace("&#93;", "]")


def _paragraph(doc_text: str, start: int, end: int) -> tuple[str, str, str]:
    """The line (paragraph) around a sentence, split into before / sentence / after."""
    p0 = doc_text.rfind("\n", 0, start) + 1
    p1 = doc_text.find("\n", end)
    p1 = len(doc_text) if p1 < 0 else p1
    return doc_text[p0:start], doc_text[start:end], doc_text[end:p1]


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


def render_sources(engine: Engine, answer, show_scores: bool = False, related: bool = False) -> str:
    """Each cited sentence (or, with `related`, each retrieved sentence the answer does not cite)
    highlighted inside its paragraph, with title, outlet, date and link."""
    cites = answer.related if related else answer.citations
    if not cites:
        return ""
    docs = {d.doc_id: d for d in (answer.documents if answer.documents is not None else engine.documents)}
    parts = ['<div class="rag-sources">']
    for c in cites:
        doc = docs.get(c.doc_id)
        before, sent, after = _paragraph(doc.text, c.start, c.end) if doc else ("", c.sentence, "")
        meta = " · ".join(escape(x) for x in (c.source, c.published[:10]) if x)
        link = ""
        if c.url.startswith(("http://", "https://")):
            link = f' · <a href="{html.escape(c.url, quote=True)}" target="_blank" rel="noopener noreferrer">link</a>'
        score = f" · score {c.score:.3f}" if show_scores else ""
        parts.append(
            f'<div class="rag-source" data-n="{c.n}"><b>[{c.n}]</b> <b>{escape(c.title)}</b>'
            f'{" · " + meta if meta else ""}{link}{score}<br>'
            f'<span class="rag-para">{escape(before)}<mark class="rag-cited">{escape(sent)}</mark>{escape(after)}'
            f"</span></div>"
        )
    parts.append("</div>")
    return "".join(parts)


def format_answer(engine: Engine, answer, show_scores: bool = False) -> str:
    lines = [_unbracket(escape(answer.answer))]
    if answer.rewritten:
        lines.insert(0, f"<i>Searched for: {escape(answer.rewritten)}</i>")
    if answer.notice:
        lines.append(f"<i>{escape(answer.notice)}</i>")
    if answer.claims:
        # Words, not only symbols: a browser without an emoji font still says which claims were kept.
        marks = [f'<span class="rag-kept">✓ supported:</span> {escape(c["text"])}' if c["supported"] else
                 f'<span class="rag-removed">✗ removed:</span> {escape(c["text"])}' for c in answer.claims]
        lines.append("<b>Claims checked against their sources</b><br>" + "<br>".join(marks))
    sources = render_sources(engine, answer, show_scores)
    if sources:
        lines.append("<b>Sources</b>" + sources)
    related = render_sources(engine, answer, show_scores, related=True)
    if related:
        lines.append(f'<details class="rag-related"><summary>Related passages ({len(answer.related)})</summary>'
                     f"{related}</details>")
    return "\n\n".join(lines)


class ChatApp:
    """State shared by the chat handlers: one engine, one write lock."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.write_lock = threading.Lock()

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
        yield format_answer(self.engine, answer, bool(show_scores))

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
        yield answer if isinstance(answer, str) else format_answer(self.engine, answer, show_scores)

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
                    docs.append(from_text(pasted, f"pasted/{int(time.time() * 1000)}",
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
        msg = f"Added {len(docs)} article(s); the index now holds {report.documents}."
        return msg + (f" Skipped: {escape('; '.join(problems))}" if problems else "")


CSS = """
.rag-source{margin:.4em 0;padding:.4em;border-left:3px solid #f0b429;font-size:.92em}
mark.rag-cited{background:#fde68a;padding:0 .1em}
.rag-kept{color:#15803d;font-weight:600}
.rag-removed{color:#b91c1c;font-weight:600}
details.rag-related summary{cursor:pointer;font-weight:600}
details.rag-related .rag-source{border-left-color:#9ca3af}
"""


def build(engine: Engine, compact: bool = False) -> gr.Blocks:
    """The chat (and, unless compact, the article upload panel) as Gradio Blocks."""
    app = ChatApp(engine)
    with gr.Blocks(title="News Q&A with cited sentences", fill_height=True) as demo:
        if not compact:
            gr.Markdown("## Ask the news\nAnswers quote the exact sentences they come from. "
                        "When the articles do not say, the answer says so.")
        # The compact widget has no settings: every pixel goes to the answer and its sources.
        extra = [] if compact else [
            gr.Checkbox(label="Show scores", value=False),
            # Empty values by default: API clients that send only (message, show_scores) still work.
            gr.Textbox(label="Only these outlets (comma-separated)", max_lines=1, value=""),
            gr.Textbox(label="Published since (YYYY-MM-DD)", max_lines=1, value=""),
            gr.Textbox(label="Published until (YYYY-MM-DD)", max_lines=1, value=""),
        ]
        chat = gr.ChatInterface(
            app.chat,
            api_name="chat",
            # None for the checkbox: the examples show as buttons in the empty chat, not as a table.
            examples=EXAMPLES[:2] if compact else [[q, None, None, None, None] for q in EXAMPLES],
            additional_inputs=extra,
            additional_inputs_accordion=gr.Accordion("Filters and scores", open=False),
            chatbot=gr.Chatbot(height=None if not compact else 420, sanitize_html=True, render_markdown=True,
                               label="Answers"),
            textbox=gr.Textbox(placeholder="Ask about the articles…", max_length=MAX_QUESTION_CHARS, submit_btn=True),
            fill_height=True,
        )
        if not compact:
            with gr.Accordion("Add articles", open=False):
                files = gr.File(file_count="multiple", file_types=[".txt", ".md", ".html", ".htm", ".json", ".jsonl"],
                                label="Upload .txt / .md / .html / .json (5 MB each)")
                pasted = gr.Textbox(lines=6, label="…or paste an article (first line is the title)")
                status = gr.Markdown()
                gr.Button("Add to the index").click(app.add, [files, pasted], status, api_name="add")
        del chat
    return demo


if __name__ == "__main__":
    import sys

    from rag.cli import main

    sys.exit(main(["serve", *sys.argv[1:]]))
