"""Golden questions about the bundled seed article, answered with the real bundled model."""

import pytest
from conftest import SEED_FILE

# (question, a phrase of the sentence that answers it; it must be among the top 3 citations)
ANSWERABLE = [
    ("who criticised Hegseth?", "Gabrielius Landsbergis posted on X"),
    ("What did Michael McFaul ask about the Trump administration?", "giving Putin gifts"),
    ("When did Trump take office?", "who took office on Jan 20"),
    ("Who is Stephen Wertheim?", "senior fellow at the Carnegie Endowment"),
    ("What did Wertheim call Hegseth's comments?", "“concession to reality”"),
    ("Who was US ambassador to Ukraine between 2003 and 2006?", "Mr John Herbst"),
    ("Who visited Kyiv to discuss a minerals deal?", "Treasury Secretary Scott Bessent"),
    ("How much of Ukraine does Russia occupy?", "around a fifth of Ukraine"),
    ("What does Ukraine demand from Russia?", "Ukraine demands that Russia withdraw"),
    ("How did the UN General Assembly vote on Russia's invasion?", "193-member General Assembly"),
    ("Who did Brett Bruen compare Trump's meeting with Putin to?", "Kim Jong Un"),
    ("What did James Cleverly say?", "James Cleverly said"),
    ("What did the Kremlin say on Feb 12?", "The Kremlin said on Feb 12"),
    ("What did Zelensky say about mineral resources?", "Mr Zelensky said he was ready"),
    ("Would US troops be part of a security presence in Ukraine?", "US troops would not be part"),
    ("How much aid have the US and Europe given Ukraine?", "tens of billions of dollars"),
]
UNANSWERABLE = [
    "What is the capital of Australia?",
    "What did Emmanuel Macron say about the talks?",
    "Who won the 2022 FIFA World Cup?",
    "What is the price of bitcoin?",
]
CHROME = ("Sign up now", "PHOTO: REUTERS", "Follow topic:")


@pytest.mark.parametrize("question,phrase", ANSWERABLE)
def test_answerable_questions_cite_the_right_sentence(seed_engine, question, phrase):
    answer = seed_engine.ask(question)
    assert answer.found, answer.answer
    top3 = [c.sentence for c in answer.citations[:3]]
    assert any(phrase in s for s in top3), top3
    text = SEED_FILE.read_text(encoding="utf-8")
    for c in answer.citations:
        assert text[c.start:c.end] == c.sentence  # exact span in the article as stored
        assert not any(chrome in c.sentence for chrome in CHROME)
    assert "[1]" in answer.answer


@pytest.mark.parametrize("question", UNANSWERABLE)
def test_unanswerable_questions_are_refused(seed_engine, question):
    answer = seed_engine.ask(question)
    assert not answer.found and answer.citations == []
    assert "could not find" in answer.answer


def test_citations_are_strongest_first_and_distinct(seed_engine):
    answer = seed_engine.ask("What did Hegseth say about Nato membership?", top_k=5)
    scores = [c.score for c in answer.citations]
    assert scores == sorted(scores, reverse=True)
    assert len({c.sentence for c in answer.citations}) == len(answer.citations)


@pytest.mark.parametrize("question,critic", [
    ("who criticised Hegseth?", "Gabrielius Landsbergis"),
    pytest.param("Who criticised Trump?", "Mr McFaul", marks=pytest.mark.xfail(strict=True, reason=(
        "Biden 'stood firm in demanding Russia withdraw' ranks first: 'questioned' and 'giving Putin gifts' "
        "carry no stance in VADER's lexicon; the seed-written word list that passed this is gone (issue 15)"))),
])
def test_a_question_about_criticism_is_answered_by_the_critic_first(seed_engine, question, critic):
    """Not by a sentence that merely mentions the person (Trump's "I'm backing Ukraine")."""
    answer = seed_engine.ask(question)
    assert critic in answer.citations[0].sentence
    # The answer states the critic first, citing that sentence, and names nobody else as a critic.
    assert [a["text"].split()[-1] for a in answer.answers] == [critic.split()[-1]]
    assert answer.answer.startswith(answer.answers[0]["text"]) and answer.answers[0]["citations"] == [1]
