"""Fast checks of the chat's text handling (the browser tests hold the page itself)."""

from rag.conversation import normalise_history, rewrite
from ui import escape


def test_escape_shows_apostrophes_and_markdown_as_text_once():
    out = escape("didn't <b>*x*</b> [1] & http://a.b")
    assert out == "didn&#39;t &lt;b&gt;&#42;x&#42;&lt;/b&gt; &#91;1&#93; &amp; http&#58;//a.b"
    assert "&amp;#" not in out and "&&#35;" not in out


def test_history_drops_empty_questions_and_error_turns_with_their_question():
    history = [{"role": "user", "content": "What did McFaul ask?"},
               {"role": "assistant", "content": "McFaul asked ... [1]"},
               {"role": "user", "content": ""},
               {"role": "assistant", "content": "⚠️ the question is empty"},
               {"role": "user", "content": "Why did Zed leave?"},
               {"role": "assistant", "content": "⚠️ Something went wrong while answering; please try again."}]
    assert [t["content"] for t in normalise_history(history)] == ["What did McFaul ask?", "McFaul asked ... [1]"]
    assert rewrite("who is he?", history) == "who is he? (McFaul)"
