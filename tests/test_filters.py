"""Explicit outlet and date filters (`--source`, `--since`, `--until`; the same in /api/ask and the chat)."""

import json

import pytest
from conftest import run_cli

from rag.engine import Engine
from rag.errors import InputError
from rag.question.filters import Filters, parse_filters


def test_filters_are_validated_with_a_message_naming_the_field():
    assert parse_filters() == Filters()
    assert parse_filters("Chess Weekly, BBC", "2024-01-01", None) == Filters(("Chess Weekly", "BBC"), "2024-01-01", "")
    assert parse_filters(["BBC"]).sources == ("BBC",)
    for bad, field in (({"since": "yesterday"}, "since"), ({"until": "2024-13-01"}, "until"),
                       ({"source": 5}, "source"), ({"since": "2024-02-01", "until": "2024-01-01"}, "after until"),
                       ({"since": "2024-1-1"}, "since")):
        with pytest.raises(InputError, match=field):
            parse_filters(**bad)


def test_only_articles_passing_the_filters_are_searched(tmp_path, corpus_dir, fake_embedder):
    engine = Engine(tmp_path / "idx", embedder=fake_embedder, reader=None)
    engine.index([corpus_dir])
    docs = engine.documents
    chess = [i for i, d in enumerate(docs) if d.source == "Chess Weekly"]
    assert Filters(("chess weekly",)).mask(docs).nonzero()[0].tolist() == chess  # case does not matter
    assert Filters(since="2024-01-02", until="2024-01-02").mask(docs).nonzero()[0].tolist() == chess
    assert not Filters(since="2024-01-03").mask(docs).any()  # undated articles fail a date range

    question = "Who won the final in Shanghai?"
    assert engine.ask(question).citations[0].source == "Chess Weekly"
    only_bakery = engine.ask(question, filters=parse_filters(until="2023-12-31"))  # the chess article is 2024
    assert all(c.source != "Chess Weekly" for c in only_bakery.citations + only_bakery.related)
    none = engine.ask(question, filters=parse_filters("No Such Outlet"))
    assert not none.found and none.citations == [] and "no article matches" in none.notice
    kept = engine.ask(question, filters=parse_filters("Chess Weekly"))
    assert {c.source for c in kept.citations + kept.related} == {"Chess Weekly"}
    assert "searched only articles from Chess Weekly" in kept.notice


@pytest.mark.slow
def test_the_cli_takes_filters_and_refuses_bad_ones_in_one_line(tmp_path, corpus_dir):
    idx = tmp_path / "idx"
    assert run_cli("index", str(corpus_dir), "--index", str(idx)).returncode == 0
    out = run_cli("ask", "Who won the final in Shanghai?", "--index", str(idx), "--json", "--source", "Chess Weekly")
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert {c["source"] for c in answer["citations"] + answer["related"]} == {"Chess Weekly"}
    bad = run_cli("ask", "Who won?", "--index", str(idx), "--since", "last week")
    assert bad.returncode == 1 and bad.stderr.strip().count("\n") == 0 and "since" in bad.stderr


@pytest.mark.slow
def test_filters_through_the_http_api_and_the_chat(server):
    from conftest import http
    from gradio_client import Client

    url = server["url"]
    status, _, body = http("POST", url + "/api/ask", {"question": "who criticised Hegseth?", "since": "last week"})
    assert status == 400 and "since" in json.loads(body)["error"]
    status, _, body = http("POST", url + "/api/ask", {"question": "who criticised Hegseth?", "source": ["Nobody"]})
    answer = json.loads(body)
    assert status == 200 and not answer["found"] and "no article matches" in answer["notice"]
    status, _, body = http("POST", url + "/api/ask", {"question": "who criticised Hegseth?", "until": "2030-01-01"})
    assert not json.loads(body)["found"]  # the seed article has no date: a date range leaves it out
    client = Client(url + "/", verbose=False)
    shown = client.predict("who criticised Hegseth?", False, "Nobody", "", "", api_name="/chat")
    assert "no article matches the filters" in shown
    bad = client.predict("who criticised Hegseth?", False, "", "2024-02-30", "", api_name="/chat")
    assert "since must be a date" in bad
