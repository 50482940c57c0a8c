import numpy as np


def test_bf16_weights_cast_once_give_the_vectors_autocast_gave():
    """The bundled model in bf16 keeps its Linear weights in bf16 instead of letting autocast cast
    them on every pass (a third of a question's model time); the vectors must not change."""
    import torch

    from rag.embedding import SentenceTransformerEmbedder

    texts = ["Who criticised Hegseth?", "Lithuania's former foreign minister Gabrielius Landsbergis said so."]
    fast = SentenceTransformerEmbedder(precision="bf16")
    linear = [m for m in fast.model.modules() if isinstance(m, torch.nn.Linear)]
    assert linear and all(m.weight.dtype == torch.bfloat16 for m in linear)
    plain = SentenceTransformerEmbedder(precision="fp32")
    assert all(m.weight.dtype == torch.float32 for m in plain.model.modules() if isinstance(m, torch.nn.Linear))
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        ref = plain.model.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(fast.embed(texts), ref, atol=1e-6)
    vecs, pooled = fast.embed_with_sentences(texts, [[(0, 10)], []])
    np.testing.assert_allclose(vecs, ref, atol=1e-6)


def test_texts_packed_in_one_sequence_embed_as_if_each_were_read_alone(real_embedder):
    """A question and its clauses go through the model end to end in one sequence; the mask keeps
    each to itself, so every vector is the one its text gets alone (a leak would move the clauses)."""
    question = "Which company, reported by TechCrunch, has been compared to OpenAI and is accused of harming publishers?"
    clause = "has been compared to OpenAI"
    a = question.index(clause)
    texts, spans = [question, clause, "and is accused of harming publishers?"], [[(a, a + len(clause))], [], []]
    vecs, pooled = real_embedder.embed_packed(texts, spans)
    ref_vecs, ref_pooled = real_embedder.embed_with_sentences(texts, spans)
    assert (vecs * ref_vecs).sum(1).min() > 0.9999
    assert float(pooled[0][0] @ ref_pooled[0][0]) > 0.9999  # a clause pooled inside the question
    assert [len(p) for p in pooled] == [1, 0, 0]
    # The clause read alone is not the clause read inside the question: the mask did separate them.
    assert float(vecs[1] @ pooled[0][0]) < 0.99


def test_a_model_that_does_not_mean_pool_gets_its_clauses_embedded_alone(seed_engine, real_embedder, tmp_path):
    """Pooling a clause out of the question's pass is right only for mean-pooled models: one that reads
    its [CLS] token (many retrieval models do) embeds the question and each clause whole instead."""
    import json

    from rag.embedding import SentenceTransformerEmbedder
    from rag.retrieval.search import Retriever

    SentenceTransformerEmbedder(precision="fp32").model.save(str(tmp_path))  # the bundled model, saved ...
    config = tmp_path / "1_Pooling" / "config.json"
    pooling = json.loads(config.read_text())
    if "pooling_mode" in pooling:  # ... with [CLS] pooling (sentence-transformers 6 names the mode ...
        pooling["pooling_mode"] = "cls"
    else:  # ... earlier versions keep one flag per mode)
        pooling.update({k: k == "pooling_mode_cls_token" for k in pooling if k.startswith("pooling_mode_")})
    config.write_text(json.dumps(pooling))
    cls = SentenceTransformerEmbedder(str(tmp_path))
    assert not cls.mean_pooled and not cls.packable
    assert real_embedder.mean_pooled and real_embedder.packable
    question = "Who criticised Hegseth's comments on Ukraine, and what did the former Lithuanian minister post on X?"
    q = Retriever(seed_engine.load(), cls).query(question)
    assert q.clauses
    expected = cls.embed([q.content] + [q.content[a:b] for a, b in q.clauses])
    np.testing.assert_allclose(np.vstack([q.vec, *q.clause_vecs]), expected, atol=1e-5)
    assert float(real_embedder.embed([q.content])[0] @ q.vec) < 0.999  # [CLS] pooling did change the vector
