"""Stated answers, cited and related sentences, with the real model and spaCy pipeline.

The probes are issue 15's: the bakery owner, the cycle lane and the head judge (on short articles
the project wrote, tests/data/local_news), the Lithuanian minister and who defended / criticised
Hegseth on the seed article. Golden questions on the project's own articles check that the answer
says the name, date or figure asked for and that its first citation is the sentence saying it.
Probes the product still fails are expected failures (strict: one that starts passing fails the
run, so its mark is removed), each with the reason measured.
"""

import re

import pytest
from conftest import ROOT

LOCAL = ROOT / "tests" / "data" / "local_news"


@pytest.fixture(scope="module")
def news_engine(tmp_path_factory, real_embedder):
    """The project's short articles in one real index."""
    from rag.engine import Engine

    engine = Engine(tmp_path_factory.mktemp("local-news-index"), embedder=real_embedder)
    engine.index([LOCAL])
    return engine


def xfail(reason: str):
    return pytest.mark.xfail(strict=True, reason=reason)


# (question, what the stated answer must say, a phrase of the sentence it must cite first)
GOLDEN = [
    ("Who opposed the cycle lane?", "Dana Whitfield", "Councillor Dana Whitfield opposed"),
    ("How much will the cycle lane cost?", "£2.4 million", "will cost £2.4 million"),
    ("How many crossings a day will Island Link Ferries run?", "four", "four crossings a day"),
    ("Who blamed fuel costs?", "Tomas Lindqvist", "Tomas Lindqvist blamed"),
    ("When will the new ferry timetable start?", "1 November", "from 1 November"),
    ("When did Mirela Sandu open the shop?", "2019", "opened the shop in 2019"),
    ("How many people does the bakery employ?", "six people", "employs six people"),
    pytest.param("Who owns the Quiet Harbour bakery?", "Mirela Sandu", "Its owner, Mirela Sandu", marks=xfail(
        "the bun sentence, which names the bakery, outranks 'Its owner, Mirela Sandu, ...'; reading a pronoun "
        "sentence with the one before it fixed this but cost RealTime QA's dev half (BENCHMARKS.md), so it is off")),
    ("Who trained as a pastry chef in Copenhagen?", "Mirela Sandu", "She trained as a pastry chef"),
    ("Who defended the cycle lane plan?", "Omar Haddad", "Omar Haddad defended"),
    ("Where did Mirela Sandu train as a pastry chef?", "Copenhagen", "pastry chef in Copenhagen"),
]
SEED_GOLDEN = [
    # 'Lithuanian' matches 'Lithuania' among the names found (words.missing).
    ("Which former Lithuanian minister reacted to the defence secretary's remarks?",
     "Gabrielius Landsbergis", "Gabrielius Landsbergis posted"),
    pytest.param("Who defended Hegseth's remarks?", "Stephen Wertheim", "concession to reality",
                 marks=xfail("Trump's 'I'm backing Ukraine' ranks first: 'defended' carries no stance in VADER's lexicon")),
]


def _check_stated(a, stated, phrase):
    assert a.found, a.answer
    assert a.answers and stated in a.answers[0]["text"], (a.answers, a.answer)
    assert a.answer.startswith(a.answers[0]["text"])  # the answer leads with it
    first = a.citations[a.answers[0]["citations"][0] - 1]
    assert phrase in first.sentence, first.sentence
    # The sentence names who or what was asked for, unless the case expects a sentence opening with a
    # pronoun for the person the sentence before it names.
    assert stated in first.sentence or phrase.startswith(("She ", "He ", "They ")), first.sentence


def test_a_who_answer_claims_the_questions_verb_only_of_people_whose_sentence_uses_it(news_engine):
    a = news_engine.ask("Who defended the cycle lane plan?")
    assert [x["text"] for x in a.answers] == ["Omar Haddad"], a.answer  # not Dana Whitfield, who opposed it
    assert a.answer.startswith("Omar Haddad [1] defended the cycle lane plan.")
    a = news_engine.ask("Who designed the cycle lane?")  # no sentence says who designed it
    assert not a.found or "designed" not in a.lead, a.answer


@pytest.mark.parametrize("question,stated,phrase", GOLDEN)
def test_the_answer_states_what_was_asked_and_cites_the_sentence_saying_it(news_engine, question, stated, phrase):
    _check_stated(news_engine.ask(question), stated, phrase)


@pytest.mark.parametrize("question,stated,phrase", SEED_GOLDEN)
def test_seed_probes(seed_engine, question, stated, phrase):
    _check_stated(seed_engine.ask(question), stated, phrase)


def test_what_did_the_head_judge_say_gives_the_judges_words(news_engine):
    a = news_engine.ask("What did the head judge say?")
    assert a.found, a.answer
    assert "Every garden this year told a story" in a.answers[0]["text"]
    assert "Priya Raman" in a.citations[0].sentence


def test_who_criticised_names_the_critic_and_never_the_defender(seed_engine):
    a = seed_engine.ask("Who criticised Hegseth?")
    assert a.found, a.answer
    names = [x["text"] for x in a.answers]
    assert "Gabrielius Landsbergis" in names, a.answer
    assert not any("Wertheim" in n or "Trump" in n for n in names), a.answer
    assert a.answer.startswith(names[0])
    # Each stated name cites a sentence that names that person.
    for x in a.answers:
        assert all(x["text"].split()[-1] in a.citations[n - 1].sentence for n in x["citations"])


def test_what_did_x_ask_quotes_their_words(seed_engine):
    a = seed_engine.ask("What did McFaul ask?")
    assert a.found and a.answers
    assert a.answers[0]["text"].startswith("Why is the Trump administration giving Putin gifts")
    assert a.answers[0]["text"] in a.citations[a.answers[0]["citations"][0] - 1].sentence


def test_citations_are_only_the_sentences_the_answer_uses_and_the_rest_is_related(seed_engine):
    a = seed_engine.ask("Who criticised Hegseth?", top_k=8)
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", a.answer)}
    assert markers == {c.n for c in a.citations}  # every citation is used, every marker listed
    assert [c.n for c in a.citations] == list(range(1, len(a.citations) + 1))
    assert len(a.citations) + len(a.related) <= 8 and a.related
    assert not {c.sentence for c in a.citations} & {c.sentence for c in a.related}
    out = a.to_json()
    assert out["answers"] == a.answers and len(out["related"]) == len(a.related)
    assert set(out["related"][0]) == set(out["citations"][0])  # the same fields


@pytest.mark.parametrize("question", [
    "Who won the Eurovision song contest?",
    "What is the capital of France?",
    pytest.param("How much does a cardamom bun cost?", marks=xfail(
        "answered: 'sells about 400 buns' names a figure, and nothing checks that the figure is a price")),
    # Asked for a date, a figure or a person, and no cited sentence names one (extractive.typed_kinds).
    "When was the Northfield Flower Show founded?",
    "How many people live on Skerry Isle?",
    "When did Omar Haddad become council leader?",
    "Who won the Northfield Flower Show?",
    pytest.param("What did Dana Whitfield say about the ferry timetable?",
                 marks=xfail("answered: every name is in the articles (answerability 0.26, threshold 0.25)")),
])
def test_questions_the_articles_do_not_answer_are_refused(news_engine, question):
    a = news_engine.ask(question)
    assert not a.found, a.answer
    assert a.citations == [] and a.answers == []


def test_asked_reads_the_wh_form():
    from rag.answer.statement import asked

    assert asked("Who criticised Hegseth?").rest == "criticised Hegseth"
    assert asked("Who did Trump call?").kind == "person" and asked("Who did Trump call?").rest == ""
    assert asked("Who are they?").rest == ""
    assert asked("How many people attended?").kind == "number" and asked("How many people attended?").unit == "people"
    assert asked("When did the shop open?").kind == "date"
    assert asked("Where is the bakery?").kind == "place"
    said = asked("What did the head judge say?")
    assert said.kind == "words" and said.speaker == "the head judge"
    which = asked("Which iconic landmark is riddled with rust?")
    assert which.kind == "entity" and which.head == "landmark" and which.subject
    assert asked("Why did the council vote?").kind == ""


def test_state_picks_the_entity_of_the_asked_kind():
    from rag.answer.statement import state

    st = state("How many people attended the march?", ["About 3,000 people attended the march on 4 May."], [""])
    assert st.parts[0][0] == "About 3,000 people"
    st = state("When was the march?", ["About 3,000 people attended the march on 4 May."], [""])
    assert st.parts[0][0] == "4 May"
    st = state("Which landmark is riddled with rust?", ["The Eiffel Tower is riddled with rust, reports say."], [""])
    assert "Eiffel Tower" in st.parts[0][0]
    # A pronoun sentence names its person through the sentence before it.
    st = state("Who trained in Copenhagen?", ["She trained as a pastry chef in Copenhagen."],
               ["Its owner, Mirela Sandu, opened the shop in 2019."])
    assert st.parts[0][0] == "Mirela Sandu"
    # The question's own names are never its answer.
    st = state("Who criticised Hegseth?", ["Mr Hegseth spoke in Brussels."], [""])
    assert st is None


def test_who_is_x_states_what_the_sentence_says_x_is():
    from rag.answer.statement import asked, state

    assert asked("Who is Stephen Wertheim?").kind == "identity"
    assert asked("Who is the secretary?").kind == "person"  # not a name: asks for a person
    st = state("Who is Stephen Wertheim?", ["Dr Stephen Wertheim, senior fellow at the Carnegie Endowment, "
                                            "described the comments as a concession."], [""])
    assert st.parts[0][0] == "senior fellow at the Carnegie Endowment"
    st = state("Who is James Cleverly?", ["Former foreign secretary James Cleverly said it was not a strong move."], [""])
    assert st.parts[0][0].lower() == "former foreign secretary"


def test_where_takes_the_place_attached_to_what_was_asked():
    from rag.answer.statement import state

    st = state("Where did Mirela Sandu train as a pastry chef?",
               ["She trained as a pastry chef in Copenhagen before moving to Edinburgh."], [""])
    assert st.parts[0][0] == "Copenhagen"  # the small model labels it an organisation: "in" makes it a place


def test_a_modal_verb_does_not_make_an_object_question_a_subject_one():
    from rag.answer.statement import asked

    assert not asked("Which team will the coach pick?").subject
    assert asked("Which team will win the cup?").subject


def test_stance_is_read_from_the_question_and_the_sentence():
    from rag.retrieval.stance import (
        asked_stance,
        leaning,
        question_stance,
        stance_bonus,
    )

    assert question_stance("Who criticised Hegseth?") == -1
    assert question_stance("Who praised the new bridge?") == 1
    assert question_stance("Who defended the plan?") == 0  # no stance word: no change
    assert question_stance("Who is Angry Birds' author?") == 0  # capitalised names are no stance
    assert leaning("No deal, no talks: it sounds like abandoning them.", -1) == 3
    assert stance_bonus(asked_stance("Who criticised the plan?"), "I am backing the plan.", 0.1, 0.2) == -0.2
    assert asked_stance("How many died in the flood?") == 0  # topic, not stance
    assert asked_stance("Who is the man accused of fraud?") == 0


def test_entity_reader_finds_sentences_naming_the_asked_kind():
    from rag.retrieval.answer_types import EntityReader

    reader = EntityReader()
    q = "How many employees did Meta lay off?"
    texts = ["Meta CEO Mark Zuckerberg told executives that layoffs would begin.",
             "Meta's job cuts will affect 11,000 employees, Zuckerberg wrote."]
    assert reader.answers(q, [0, 1], texts) == [False, True]
    # "Who criticised X?": the person must be the one who acted, the subject of the sentence.
    q = "Who criticised the council?"
    texts = ["Remarks by Mr Tom Reed about the council angered residents.", "Anna Berg criticised the council."]
    assert reader.answers(q, [2, 3], texts) == [False, True]
    assert reader.answers("Why did the council vote?", [3], texts[1:]) == [False]  # no kind asked


def test_the_answerability_model_loads_and_refuses_a_question_about_what_no_article_names(news_engine):
    from rag.answer.extractive import FEATURES, _model

    model = _model()
    assert model is not None and model["features"] == list(FEATURES)  # the committed fit matches the code
    assert 0 < model["threshold"] < 1
    for question, answerable in (("Who opposed the cycle lane?", True), ("Who won the Eurovision song contest?", False)):
        ret = news_engine.retrieve(question)
        assert (ret.answerability >= model["threshold"]) == answerable == ret.found, (question, ret.answerability)
