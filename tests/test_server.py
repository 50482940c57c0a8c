"""A real `rag serve` on a free port: gradio_client, the JSON API, CORS, CSP, concurrency."""

import concurrent.futures as cf
import json

import pytest
from conftest import ROOT, http

pytestmark = pytest.mark.slow


def test_first_start_built_the_index(server):
    assert "building it from" in server["log"].read_text()
    assert server["first_health"]["status"] == "ok" and server["first_health"]["documents"] == 1


def test_gradio_client_chat_and_follow_up(server):
    from gradio_client import Client

    client = Client(server["url"] + "/", verbose=False)
    first = client.predict("who criticised Hegseth?", False, api_name="/chat")
    assert "Landsbergis" in first and "[1]" in first
    follow = client.predict("who is he?", False, api_name="/chat")  # same session: the conversation carries
    assert "Searched for" in follow and "Hegseth" in follow


def test_api_ask_contract_and_follow_up(server):
    status, _, body = http("POST", server["url"] + "/api/ask", {"question": "who criticised Hegseth?"})
    answer = json.loads(body)
    assert status == 200 and answer["found"] is True
    assert {"question", "answer", "found", "citations"} <= set(answer)
    assert any("Landsbergis" in c["sentence"] for c in answer["citations"][:3])
    history = [{"role": "user", "content": "What did McFaul ask?"},
               {"role": "assistant", "content": [{"type": "text", "text": "He asked why..."}]}]
    status, _, body = http("POST", server["url"] + "/api/ask", {"question": "who is he?", "history": history})
    answer = json.loads(body)
    assert answer["rewritten"].endswith("(McFaul)")
    assert any("McFaul" in c["sentence"] for c in answer["citations"][:2])


@pytest.mark.parametrize("body,message", [
    ({"question": ""}, "the question is empty"),
    ({"question": "x" * 5000}, "limit is 1000"),
    ({"nothing": 1}, "missing \"question\""),
    ({"question": "hi", "history": "no"}, "must be a list"),
    ({"question": "hi", "history": [{"role": "user", "content": "x"}] * 100}, "history over"),
])
def test_api_bad_input(server, body, message):
    status, _, text = http("POST", server["url"] + "/api/ask", body)
    assert status == 400 and message in json.loads(text)["error"]
    assert "Traceback" not in text and "/work" not in text and str(ROOT) not in text


def test_oversized_body_is_refused(server):
    status, _, text = http("POST", server["url"] + "/api/ask", {"question": "a", "pad": "x" * 200_000})
    assert status == 413


def test_cors_allow_list_and_frame_ancestors(server):
    ALLOWED = server["allowed"]
    _, headers, _ = http("GET", server["url"] + "/health", headers={"Origin": ALLOWED})
    lower = {k.lower(): v for k, v in headers.items()}
    assert lower["access-control-allow-origin"] == ALLOWED
    assert lower["content-security-policy"] == f"frame-ancestors 'self' {ALLOWED}"
    for origin in ("http://evil.test", "http://localhost:1234", "null"):
        _, headers, _ = http("POST", server["url"] + "/api/ask", {"question": "hi"}, headers={"Origin": origin})
        assert "access-control-allow-origin" not in {k.lower() for k in headers}
    status, headers, _ = http("OPTIONS", server["url"] + "/api/ask",
                              headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in {k.lower() for k in headers}
    _, headers, _ = http("GET", server["url"] + "/embed/")
    assert {k.lower(): v for k, v in headers.items()}["content-security-policy"].startswith("frame-ancestors")


def test_twenty_concurrent_questions(server):
    questions = ["who criticised Hegseth?", "Who is Stephen Wertheim?", "How much of Ukraine does Russia occupy?",
                 "Who won the 2022 FIFA World Cup?"] * 5

    def ask(q):
        return q, http("POST", server["url"] + "/api/ask", {"question": q}, timeout=120)

    with cf.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(ask, questions))
    for q, (status, _, body) in results:
        assert status == 200, body
        answer = json.loads(body)
        assert answer["found"] is (q != "Who won the 2022 FIFA World Cup?")
        if q.startswith("who criticised"):
            assert any("Landsbergis" in c["sentence"] for c in answer["citations"][:3])
