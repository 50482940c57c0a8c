"""`rag eval realtimeqa | multihop-qa | jsonl`: the scorer, the plain baselines and the CLI on a small corpus."""

import json
import os
from pathlib import Path

import pytest
from conftest import MULTIHOP, ROOT, needs_multihop, run_cli

from rag.engine import Engine
from rag.eval.newsqa import QA, Baselines, contains_answer, fold, load_jsonl, score

REALTIMEQA = Path(os.environ.get("REALTIMEQA_DIR", ROOT.parent / "shared" / "eval" / "realtimeqa"))
# Floors a little under the figures measured on these subsets (session 9).
MH_FLOORS = {"answer@3": 0.68, "article@3": 0.88, "answer_text": 0.57, "refused": 0.85}  # 0.729 / 0.915 / 0.628 / 0.952
OWN_FLOORS = {"answer@3": 0.75, "article@3": 0.92, "answer_text": 0.75, "refused": 0.3}  # 0.825 / 0.975 / 0.825 / 0.4

RECORDS = [
    {"id": "bakery", "title": "Bakery in Leith", "body": "The Quiet Harbour bakery in Leith sells a cardamom bun. "
     "Its owner, Mirela Sandu, opened the shop in 2019. Queues form before eight on Saturdays."},
    {"id": "lane", "title": "Council backs cycle lane", "body": "The council approved the Dock Street cycle lane on "
     "Tuesday. The lane will cost 2.4 million pounds. Shopkeepers opposed the plan, saying it removes parking."},
    {"id": "ferry", "title": "Ferry resumes", "body": "The ferry to Inchkeith resumed on Friday after storm repairs. "
     "Operator Iona Baird said bookings had doubled."},
]
QUESTIONS = [
    {"id": "q1", "question": "Who owns the Quiet Harbour bakery?", "answers": ["Mirela Sandu"], "doc_ids": ["bakery"]},
    {"id": "q2", "question": "How much will the cycle lane cost?", "answers": ["2.4 million pounds"],
     "doc_ids": ["lane"]},
    {"id": "q3", "question": "When did the Inchkeith ferry resume?", "answers": ["Friday"], "doc_ids": ["ferry"]},
    {"id": "q4", "question": "Who won the 2022 FIFA World Cup?", "unanswerable": True},
]


def test_fold_and_contains_answer():
    assert fold("Zelénskyy's  “plan”!") == "zelenskyy s plan"
    assert contains_answer("Its owner, Mirela Sandu, opened it.", ["mirela sandu"])
    assert not contains_answer("Sandusky opened it.", ["Sandu"])  # whole words only


def test_score_reads_answers_articles_and_refusals():
    q = QA("x", "who?", answers=["Mirela Sandu"], doc_ids=["bakery"])
    cited = [("f#1", "The lane will cost a lot."), ("f#0", "Its owner, Mirela Sandu, opened the shop.")]
    row = score(q, "Mirela Sandu [2]", True, cited, {"f#0": "bakery", "f#1": "lane"})
    assert row == {"answer@1": 0.0, "answer@3": 1.0, "answer_text": 1.0, "false_refusal": 0.0, "article@3": 1.0}
    assert score(q, "", False, [], {})["false_refusal"] == 1.0
    assert score(QA("y", "?", unanswerable=True), "", False, [], {}) == {"refused": 1.0}
    facts = ["The council approved the Dock Street cycle lane on Tuesday."]
    by_evidence = score(QA("z", "did it?", evidence=facts), "", True, [("f#1", facts[0])], {})
    assert by_evidence["answer@1"] == 1.0 and by_evidence["evidence@3"] == 1.0


def _write(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    return corpus, questions


def test_jsonl_split_by_line_number(tmp_path):
    _, questions = _write(tmp_path)
    assert [q.id for q in load_jsonl(questions, "dev")] == ["q2", "q4"]
    assert [q.id for q in load_jsonl(questions, "test")] == ["q1", "q3"]
    assert load_jsonl(questions)[3].unanswerable


def test_baselines_find_the_sentence(tmp_path, fake_embedder):
    corpus, _ = _write(tmp_path)
    eng = Engine(tmp_path / "idx", embedder=fake_embedder)
    eng.index([corpus])
    base = Baselines(eng.load(), fake_embedder)
    assert len(base.windows) == 3  # one short article, one window
    top = base.sentence_text[base.lexical("How much will the cycle lane cost?")[0]]
    assert "2.4 million" in top
    top = base.sentence_text[base.dense("the cycle lane will cost how much")[0]]
    assert "cost" in top


def test_cli_eval_jsonl_prints_product_and_baselines(tmp_path):
    corpus, questions = _write(tmp_path)
    out = run_cli("eval", "jsonl", questions, "--corpus", corpus, "--index", tmp_path / "idx",
                  "--json", tmp_path / "r.json", "--split", "all")
    assert out.returncode == 0, out.stderr
    assert "product" in out.stdout and "dense" in out.stdout and "bm25" in out.stdout
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["queries"] == {"total": 4, "answerable": 3, "unanswerable": 1}
    assert result["dense"]["article@3"] == 1.0 and result["product"]["answer@3"] >= 2 / 3
    assert (tmp_path / "r.png").stat().st_size > 10_000


@pytest.mark.slow
@pytest.mark.skipif(not (REALTIMEQA / "questions.jsonl").is_file(),
                    reason=f"RealTime QA not found at {REALTIMEQA} (set REALTIMEQA_DIR)")
def test_realtimeqa_subset_beats_floors(tmp_path):
    out = run_cli("eval", "realtimeqa", REALTIMEQA, "--split", "test", "--limit", "120",
                  "--index", ROOT / ".cache" / "realtimeqa-index", "--json", tmp_path / "r.json", timeout=1200)
    assert out.returncode == 0, out.stderr
    r = json.loads((tmp_path / "r.json").read_text())
    # Floors a little under the figures measured on this subset (session 10: product 0.692 / 0.767,
    # dense 0.717, bm25 0.683); the baselines are scored beside it on the same questions.
    assert r["product"]["answer@3"] >= 0.64 and r["product"]["article@3"] >= 0.72
    assert r["dense"]["answer@3"] >= 0.67 and r["bm25"]["answer@3"] >= 0.63


def _eval(tmp_path, *args) -> dict:
    """`rag eval ...` on the eval CLI's cached MultiHop-RAG index; its JSON."""
    out = run_cli("eval", *args, "--index", ROOT / ".cache" / "multihop-index", "--json", tmp_path / "r.json",
                  timeout=2400)
    assert out.returncode == 0, out.stderr
    return json.loads((tmp_path / "r.json").read_text())


@pytest.mark.slow
@needs_multihop()
def test_multihop_qa_subset_beats_floors(tmp_path):
    """MultiHop-RAG as cited answers (test split, first 150)."""
    r = _eval(tmp_path, "multihop-qa", MULTIHOP, "--split", "test", "--limit", "150")
    p, dense, bm25 = r["product"], r["dense"], r["bm25"]
    assert all(p[k] >= v for k, v in MH_FLOORS.items()) and p["false_refusal"] <= 0.08, p
    assert p["answer@3"] > max(dense["answer@3"], bm25["answer@3"]) + 0.1  # the baselines, same questions


@pytest.mark.slow
@needs_multihop()
def test_own_question_set_beats_floors(tmp_path):
    """The project's own questions over 16 MultiHop-RAG articles (test half)."""
    r = _eval(tmp_path, "jsonl", ROOT / "benchmarks" / "questions" / "multihop-own.jsonl",
              "--corpus", MULTIHOP / "corpus.json", "--split", "test")
    p, dense, bm25 = r["product"], r["dense"], r["bm25"]
    assert all(p[k] >= v for k, v in OWN_FLOORS.items()) and p["false_refusal"] <= 0.05, p
    assert p["answer@1"] > max(dense["answer@1"], bm25["answer@1"])
