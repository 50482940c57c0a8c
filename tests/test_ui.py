"""Fast checks of the chat's text handling (the browser tests hold the page itself)."""

import gradio as gr

import ui
from rag import Engine
from rag.app import feedback
from rag.app.cli import main
from rag.index.locking import writer_lock
from rag.question.followups import normalise_history, rewrite
from ui import _KEY, ChatApp, escape


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


def _app(tmp_path, corpus_dir, emb) -> ChatApp:
    engine = Engine(tmp_path / "index", embedder=emb)
    engine.index([corpus_dir])
    return ChatApp(engine)


def test_the_article_list_searches_and_only_chat_added_articles_can_be_removed(tmp_path, corpus_dir, fake_embedder):
    app = _app(tmp_path, corpus_dir, fake_embedder)
    assert app.add(None, "Harbour bakery opens\nMirela Sandu opened the Quiet Harbour bakery in Leith in 2019.")\
        .startswith("Added 1")
    listing = app.listing("")
    assert "4 of 4 articles" in listing and "Chess Weekly" in listing and "added here" in listing
    assert "1 of 4" in app.listing("chess WEEKLY") and "Volcano" not in app.listing("chess")
    assert "No indexed article matches" in app.listing("nothing like this")
    [(label, pasted)] = app.removable()  # the indexed files are not offered
    assert label == "Harbour bakery opens" and pasted.startswith("pasted/")
    seeded = next(d.doc_id for d in app.engine.documents if d.doc_id.endswith("b.md"))
    for forged in (seeded, "pasted/0000", "../index", None, 7):  # the id comes from the client
        assert app.confirm_removal(forged)[1] is False
        assert app.remove(forged).startswith("⚠️") and len(app.engine.documents) == 4
    message, shown, target = app.confirm_removal(pasted)
    assert shown and target == pasted and "cannot be undone" in message
    assert app.remove(target) == "Removed “Harbour bakery opens”; the index now holds 3 articles."
    assert app.removable() == [] and "3 of 3" in app.listing("")
    assert app.remove(target).startswith("⚠️ That article is no longer in the index")


def test_a_rating_is_logged_with_the_answer_the_server_gave_never_the_clients_text(tmp_path, corpus_dir,
                                                                                  fake_embedder, capsys):
    app = _app(tmp_path, corpus_dir, fake_embedder)
    *_, card = app.chat("Who won the chess final in Shanghai?", [])
    key = _KEY.search(card).group(0)
    app.rate(gr.LikeData(None, {"index": 1, "value": card.replace("Ju Wenjun", "someone else"), "liked": False}))
    app.rate(gr.LikeData(None, {"index": 1, "value": "⚠️ Something went wrong", "liked": True}))  # no answer: not kept
    app.rate(gr.LikeData(None, {"index": 1, "value": "rag-0123456789", "liked": True}))  # not one this server gave
    [entry] = feedback.read(tmp_path / "index")
    assert entry["rating"] == "down" and entry["question"] == "Who won the chess final in Shanghai?"
    assert entry["answer"] == app.answers[key]["answer"] and "Ju Wenjun" in entry["answer"]
    assert entry["citations"] and entry["citations"][0]["doc_id"].endswith("b.md")
    assert not {"ip", "client", "user_agent", "host"} & set(entry)
    assert main(["feedback", "--index", str(tmp_path / "index")]) == 0
    out = capsys.readouterr().out
    assert "Who won the chess final in Shanghai?" in out and "1 ratings: 0 up, 1 down" in out
    assert main(["feedback", "--index", str(tmp_path / "index"), "--json", "--rating", "up"]) == 0
    assert capsys.readouterr().out == ""


def test_a_removal_waits_for_the_writer_lock_and_says_nothing_was_removed_when_it_stays_held(
        tmp_path, corpus_dir, fake_embedder, monkeypatch):
    app = _app(tmp_path, corpus_dir, fake_embedder)
    app.add(None, "Harbour bakery opens\nMirela Sandu opened the Quiet Harbour bakery in Leith in 2019.")
    [(_, pasted)] = app.removable()
    monkeypatch.setattr(ui, "LOCK_WAIT_SECONDS", 0.5)
    with writer_lock(tmp_path / "index"):  # another writer (a `rag index` run) holds the index
        assert app.remove(pasted).startswith("⚠️ The index is being updated by another process; nothing was removed")
    assert len(app.engine.documents) == 4 and len(Engine(tmp_path / "index", embedder=fake_embedder).documents) == 4
    assert app.remove(pasted).startswith("Removed")
