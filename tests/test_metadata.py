"""Outlets and dates read out of a question (rag/metadata.py)."""

import numpy as np

from rag.question.metadata import MetadataCues, without_outlets

SOURCES = ["TechCrunch", "The Independent - Sports", "The Independent - Life and Style", "Fortune", "The Age"]
PUBLISHED = ["2023-09-28T10:00:00", "2023-10-04T08:00:00", "2023-10-04T09:00:00", "2023-10-04T12:00:00",
             "2023-11-02T00:00:00"]


def test_a_named_outlet_selects_its_articles_and_the_longest_name_wins():
    cues = MetadataCues(SOURCES, PUBLISHED)
    q = "Did The Independent - Sports and TechCrunch agree?"
    found = cues.outlets(q)
    assert [(q[a:b], docs) for a, b, docs in found] == [("The Independent - Sports", [1]), ("TechCrunch", [0])]
    # "The Independent" alone names both of its sections.
    assert sorted(cues.outlets("What did The Independent say?")[0][2]) == [1, 2]


def test_a_one_word_outlet_counts_only_as_a_name():
    cues = MetadataCues(SOURCES, PUBLISHED)
    assert cues.outlets("a fortune was lost") == []
    assert [d for _, _, d in cues.outlets("as Fortune reported")] == [[3]]


def test_dates_select_the_articles_published_then():
    cues = MetadataCues(SOURCES, PUBLISHED)
    assert cues.date_mask("no date here") is None
    assert np.flatnonzero(cues.date_mask("the report of October 4, 2023")).tolist() == [1, 2, 3]
    assert np.flatnonzero(cues.date_mask("in November 2023")).tolist() == [4]


def test_outlets_and_the_words_introducing_them_are_blanked_in_place():
    cues = MetadataCues(SOURCES, PUBLISHED)
    q = "Who was accused of fraud, as reported by TechCrunch, and what did The Age say about it?"
    blank = without_outlets(q, cues.outlets(q))
    assert len(blank) == len(q)  # offsets of clauses still point at the same words
    assert "TechCrunch" not in blank and "reported" not in blank and "Age" not in blank
    assert blank.split() == "Who was accused of fraud, , and what did say about it?".split()


def test_an_outlet_named_twice_is_found_and_blanked_twice():
    cues = MetadataCues(SOURCES, PUBLISHED)
    q = "Did the TechCrunch report of October 2 and the TechCrunch report of October 7 agree?"
    found = cues.outlets(q)
    assert [(a, docs) for a, _, docs in found] == [(q.index("TechCrunch"), [0]), (q.rindex("TechCrunch"), [0])]
    assert "TechCrunch" not in without_outlets(q, found)
