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
