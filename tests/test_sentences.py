import json

from conftest import MULTIHOP, SEED_FILE, needs_multihop

from rag.text.ingest import load_file
from rag.text.sentences import is_chrome, split_sentences


def _sentences(text, title=""):
    return [(text[s:e], c) for s, e, c in split_sentences(text, title)]


def test_seed_spans_round_trip_and_chrome_is_not_citable():
    doc = load_file(SEED_FILE, "seed")[0]
    spans = split_sentences(doc.text, doc.title)
    assert len(spans) > 40
    for start, end, _ in spans:
        sent = doc.text[start:end]
        assert sent == sent.strip() and sent
    citable = {doc.text[s:e] for s, e, c in spans if c}
    for chrome in ("Sign up now: Get ST's newsletters delivered to your inbox", "PHOTO: REUTERS", "Follow topic:",
                   "Concession to reality", "Minerals for security", doc.title):
        assert chrome not in citable
    # The photo caption sits right above its credit line: shown, never cited.
    assert not any(t.startswith("President Donald Trump has told US officials") for t in citable)


def test_honorifics_dates_and_quoted_questions_stay_one_sentence():
    doc = load_file(SEED_FILE, "seed")[0]
    texts = [t for t, _ in _sentences(doc.text, doc.title)]
    landsbergis = [t for t in texts if "Landsbergis" in t]
    assert len(landsbergis) == 1 and landsbergis[0].startswith("“No Nato membership, no boots on the ground?")
    assert landsbergis[0].endswith("later this week.")
    assert any(t.startswith("Mr Trump, when asked later on Feb 12 if Mr Hegseth’s remarks") and t.endswith("Ukraine.”")
               for t in texts)
    assert any(t.startswith("Dr Stephen Wertheim, senior fellow") for t in texts)


def test_segmenter_cases():
    text = 'Dr. Smith met Mr. Jones on Feb. 12 in St. Louis. "Really?" she asked. It rained.'
    assert [t for t, _ in _sentences(text)] == [
        "Dr. Smith met Mr. Jones on Feb. 12 in St. Louis.", '"Really?" she asked.', "It rained."]


def test_chrome_rules():
    assert is_chrome("PHOTO: REUTERS") and is_chrome("Follow topic:") and is_chrome("Sign up now: Get the news")
    assert not is_chrome("He said US troops would not be part of any security presence in Ukraine.")
    # Long scraped lines that lost their full stop are still content.
    assert not is_chrome("Mr Trump, who took office on Jan 20, separately discussed the war with leaders")


@needs_multihop()
def test_multihop_spans_round_trip_and_gold_facts_are_sentences(tmp_path):
    records = json.loads((MULTIHOP / "corpus.json").read_text(encoding="utf-8"))[:50]
    path = tmp_path / "sample.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    docs = load_file(path, "sample")
    assert len(docs) == 50
    total = 0
    for doc in docs:
        for start, end, _ in split_sentences(doc.text, doc.title):
            sent = doc.text[start:end]
            assert sent and sent == sent.strip()
            total += 1
    assert total > 1000
