"""The one inference loop (lead_ir.embed) and the one exact search (lead_ir.exact)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fixtures_models import DOCS, QUERIES, WORD_VOCAB, build_tiny_bert

from lead_ir.embed import Embedder, max_length_for
from lead_ir.errors import LeadIRError
from lead_ir.exact import exact_search, exact_top_k
from lead_ir.models.encoder import DenseEncoder
from lead_ir.models.spec import EncoderSpec

# Lengths from 0 to past the max lengths below (so truncation and length sorting both matter).
TEXTS = ["", "cell", *DOCS.values(), " ".join(DOCS.values()), *QUERIES.values()]
SPEC = EncoderSpec(pooling="mean", normalize=True, query_max_len=5, passage_max_len=12, query_prefix="q ",
                   passage_prefix="p ")


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> DenseEncoder:
    path = build_tiny_bert(tmp_path_factory.mktemp("embed") / "bert", WORD_VOCAB, hidden=32, layers=3, seed=2)
    return DenseEncoder.from_pretrained(path, spec=SPEC)


def _one_by_one(encoder: DenseEncoder, texts: list[str], kind: str, layers=None) -> np.ndarray:
    """Each text alone (no padding, no sorting): the spec's prefix and max length, applied by hand."""
    prefix, max_len = ("q ", 5) if kind == "query" else ("p ", 12)
    rows = []
    with torch.inference_mode():
        for text in texts:
            tok = encoder.tokenizer([prefix + text], truncation=True, max_length=max_len, return_tensors="pt")
            out = encoder(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"], layers=layers)
            rows.append(out.layer_embeddings[:, 0] if layers else out.embedding[0])
    return torch.stack(rows).float().numpy()


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_vectors_do_not_depend_on_batching_or_input_order(encoder, kind):
    expected = _one_by_one(encoder, TEXTS, kind)
    expected_layers = _one_by_one(encoder, TEXTS, kind, layers=[1, 3])
    perm = np.random.default_rng(0).permutation(len(TEXTS))
    shuffled = [TEXTS[i] for i in perm]
    encoder.train()  # the embedder runs in eval mode and gives the mode back
    for batch_size, window in ((1, 100), (4, 5), (64, 3), (64, 100)):
        embedder = Embedder(encoder, kind, batch_size=batch_size, window=window)
        np.testing.assert_allclose(embedder(TEXTS), expected, atol=1e-5)
        np.testing.assert_allclose(embedder(shuffled), expected[perm], atol=1e-5)
        got = embedder(shuffled, layers=[1, 3])
        assert got.shape == (len(TEXTS), 2, 32) and got.dtype == np.float32
        np.testing.assert_allclose(got, expected_layers[perm], atol=1e-5)
    assert encoder.training
    encoder.eval()
    # The kind decides prefix and length: the same texts embed differently as queries and passages.
    other = _one_by_one(encoder, TEXTS, "passage" if kind == "query" else "query")
    assert np.abs(other - expected).max() > 1e-3
    assert Embedder(encoder, kind)([]).shape == (0, 32)


def test_max_length_policy_lives_in_one_place(encoder):
    limit = encoder.model.config.max_position_embeddings
    assert max_length_for(encoder, "query") == 5 and max_length_for(encoder, "passage", 7) == 7
    long = DenseEncoder(encoder.model, encoder.tokenizer, EncoderSpec(passage_max_len=limit + 100))
    assert max_length_for(long, "passage") == limit  # a checkpoint default is capped at the model
    with pytest.raises(LeadIRError, match=f"exceeds the model's {limit} positions"):
        Embedder(encoder, "passage", max_length=limit + 1)  # an explicit length is refused, not truncated
    with pytest.raises(LeadIRError, match="kind 'doc' is unknown"):
        max_length_for(encoder, "doc")


def test_teacher_cache_rows_are_the_embedders_layer_vectors(encoder, tmp_path):
    from lead_ir.training.cache import TeacherCache, _build
    from lead_ir.training.data import Group

    doc_ids = list(DOCS)
    groups = [Group(qid, text, [doc_ids[i]], doc_ids[i + 1:i + 4]) for i, (qid, text) in enumerate(QUERIES.items())]
    _build(encoder, groups, DOCS, tmp_path / "cache", batch_size=3)
    cache = TeacherCache(tmp_path / "cache")
    layers = [1, 2, 3]
    np.testing.assert_allclose(cache.queries, _one_by_one(encoder, list(QUERIES.values()), "query", layers),
                               atol=1e-5)
    ids = list(cache.passage_row)
    np.testing.assert_allclose(cache.passages, _one_by_one(encoder, [DOCS[d] for d in ids], "passage", layers),
                               atol=1e-5)
    np.testing.assert_array_equal(cache.passages, Embedder(encoder, "passage", 3)([DOCS[d] for d in ids],
                                                                                  layers=layers))


def _argsort_reference(queries: np.ndarray, docs: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ docs.T
    return np.stack([np.lexsort((np.arange(len(docs)), -row))[:k] for row in scores])


def test_exact_top_k_equals_a_full_sort_with_ties_by_position():
    rng = np.random.default_rng(1)
    docs = rng.integers(-2, 3, size=(40, 4)).astype(np.float32)  # small integers: many exact ties
    docs[7] = docs[3]  # duplicates too
    queries = rng.integers(-2, 3, size=(9, 4)).astype(np.float32)
    for k in (1, 5, 17, 40, 60):
        expected = _argsort_reference(queries, docs, k)
        for block in (1, 4, 256):
            indices, scores = exact_top_k(queries, docs, k, block=block)
            np.testing.assert_array_equal(indices, expected)
            np.testing.assert_array_equal(scores, np.take_along_axis(queries @ docs.T, expected, 1))
    run = exact_search(queries, docs, [f"q{i}" for i in range(9)], [f"d{j}" for j in range(40)], 3)
    assert list(run["q0"]) == [f"d{j}" for j in _argsort_reference(queries, docs, 3)[0]]
    docs[5, 0] = np.nan
    with pytest.raises(LeadIRError, match="non-finite"):
        exact_top_k(queries, docs, 3)
