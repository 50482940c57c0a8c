from rag.question.clauses import clauses


def _texts(question, ignore=()):
    return [question[a:b].strip(" ,;") for a, b in clauses(question, ignore)]


def test_a_multi_hop_question_splits_into_one_clause_per_fact():
    q = ("Which company, featured in TechCrunch articles, has been compared to OpenAI in terms of AI performance, "
         "has recently showcased new hardware at an annual event, and is also accused of harming news "
         "publishers' bottom lines through anticompetitive practices?")
    outlet = q.index("TechCrunch")
    parts = _texts(q, [(outlet, outlet + len("TechCrunch"))])
    assert parts == [
        "Which company, featured in TechCrunch articles, has been compared to OpenAI in terms of AI performance",
        "has recently showcased new hardware at an annual event",
        "and is also accused of harming news publishers' bottom lines through anticompetitive practices?",
    ]


def test_dates_keep_their_year_and_contrasts_split():
    q = ("Between the report from The Verge on Apple's defense of its Google Search deal published on "
         "September 26, 2023, and the TechCrunch report on the antitrust suit against Google published on "
         "December 15, 2023, was there a change in the portrayal of Google's market influence?")
    parts = _texts(q)
    assert len(parts) == 3
    assert parts[0].endswith("September 26, 2023") and parts[1].endswith("December 15, 2023")
    assert _texts("Does the Fortune article praise the merger deal terms while the Verge article criticises "
                  "the merger plan?") == ["Does the Fortune article praise the merger deal terms",
                                          "while the Verge article criticises the merger plan?"]


def test_relative_clauses_split_when_each_holds_a_fact():
    q = "Who is the individual who founded the cryptocurrency exchange FTX and who was convicted of fraud in New York?"
    assert _texts(q) == ["Who is the individual who founded the cryptocurrency exchange FTX",
                         "and who was convicted of fraud in New York?"]
    # Too little on either side of "and" to stand alone: one clause.
    assert clauses("Did the company that makes the iPhone sue Samsung and Google?") == []


def test_short_questions_are_one_clause():
    assert clauses("who criticised Hegseth?") == []
    assert clauses("What did Landsbergis say, and when?") == []
