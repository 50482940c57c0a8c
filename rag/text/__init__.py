"""Stage 1, text: files and pages read into Documents (ingest), split into sentences with exact
character spans (sentences), grouped into token-bounded chunks (chunking); words and names (words).
"""
