"""The evaluation harness behind `rag eval` (matplotlib for its charts: the eval extra).

multihop: MultiHop-RAG's own retrieval metrics; newsqa: cited answers scored as a reader would, on
any dataset in the JSONL format (RealTime QA, MultiHop-RAG as answers, our own set), beside plain
dense and BM25 baselines. Nothing in the pipeline imports this package (tests/test_layers.py).
"""
