import pytest

from rag.text.words import key_terms, missing, terms


def test_a_name_matches_the_word_for_its_people_or_language_but_not_a_different_name():
    present = set(terms("Former Lithuania foreign minister Gabrielius Landsbergis posted on X. Ukrainian forces held."))
    assert missing(key_terms("Which former Lithuanian minister reacted?"), present) == []
    assert missing(key_terms("What did the Ukraine defence ministry say?"), present) == []
    # Short names and long suffixes stay apart: Iran is not Ireland, Latvia is not Lithuania.
    assert missing(key_terms("Did Latvia and Ireland react?"), present) == ["latvia", "ireland"]
    assert missing(key_terms("Who visited Iraq?"), set(terms("Iran's envoy"))) == ["iraq"]


def test_months_and_weekdays_are_not_names_a_refusal_needs_found():
    from rag.answer.extractive import names

    assert names("Which app faces a ban in the US on January 19?") == ["us", "19"]
    assert names("What did Ines Okafor unveil on Friday in Leith?") == ["ine", "okafor", "leith"]


def test_a_multi_word_name_written_as_its_initials_counts_as_found():
    from rag.text.words import spelled_as_acronym

    question = "Who, according to a new poll, is the United States' most popular public figure?"
    assert spelled_as_acronym(question, "A U.S. poll found ...") == {"unit", "state"}
    assert spelled_as_acronym(question, "The US poll") == {"unit", "state"}
    assert spelled_as_acronym("Which European Union leader spoke?", "EU leaders met") == {"european", "union"}
    # Other initials, lower-case words and a single capitalised word are no match.
    assert spelled_as_acronym(question, "The UK poll, in the us") == set()
    assert spelled_as_acronym("What did Reuters say?", "R said") == set()


@pytest.mark.parametrize("question", [
    "Which new character did M&M’s add to the brand’s lineup this week?",
    "Why did Ukraine’s army leave Bakhmut in 2023?",
    "Did the U.S. and the EU agree on AI rules?",
    "What did O'Neill's lawyer tell the BBC?",
])
def test_every_name_a_question_must_have_found_is_a_term_the_articles_can_hold(question):
    # The refusal looks for the question's names among the articles' terms: a name `terms` never
    # gives ("m" of "M&M’s") would count as missing from every article.
    assert set(key_terms(question)) <= set(terms(question))
