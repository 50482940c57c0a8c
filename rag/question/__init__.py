"""Stage 4, the question: follow-ups rewritten from the conversation (followups), outlet and date
filters (filters), outlets and dates named in the question (metadata), its clauses (clauses).
"""
