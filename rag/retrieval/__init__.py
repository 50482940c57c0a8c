"""Stage 5, retrieval: dense and BM25 rankings fused, then sentences scored (search), with answer
types (answer_types), stance (stance) and the optional reader and cross-encoder (reader, rerank).
"""
