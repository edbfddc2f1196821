"""Encoders on tiny random BERTs: per-layer pooling, sentence-transformers export, truncation,
ColBERT MaxSim and cross-encoder per-layer heads."""

from __future__ import annotations

import pytest
import torch
from fixtures_models import CHAR_VOCAB, WORD_VOCAB, build_tiny_bert
from transformers import AutoModel, BertConfig, BertForSequenceClassification

from lead_ir.errors import LeadIRError
from lead_ir.models import DenseEncoder, EncoderSpec
from lead_ir.models.colbert import ColBERTEncoder, ColBERTSpec
from lead_ir.models.cross_encoder import CrossEncoder, CrossEncoderSpec
from lead_ir.models.reps import dense_scores, layer_scores, maxsim_scores
from lead_ir.models.truncate import keep_layers

TEXTS = ["vitamin diet reduces cancer risk", "sleep and memory", "the heart"]


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-word-l4"), WORD_VOCAB, hidden=32, layers=4)


@pytest.fixture(scope="session")
def char_dir(tmp_path_factory):
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-char-l2"), CHAR_VOCAB, hidden=48, layers=2, seed=1)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_layer_embeddings_pool_each_layer(tiny_dir, pooling):
    enc = DenseEncoder.from_pretrained(tiny_dir, EncoderSpec(pooling=pooling, normalize=True)).eval()
    tok = enc.tokenize(TEXTS, 16)
    out = enc(**tok, layers=[1, 3, 4])
    hidden = enc.model(**tok, output_hidden_states=True).hidden_states
    mask = tok["attention_mask"].unsqueeze(-1).float()
    for k, layer in enumerate([1, 3, 4]):
        h = hidden[layer]
        manual = h[:, 0] if pooling == "cls" else (h * mask).sum(1) / mask.sum(1)
        assert torch.allclose(out.layer_embeddings[k], torch.nn.functional.normalize(manual, dim=-1), atol=1e-6)
    assert torch.allclose(out.layer_embeddings[-1], out.embedding, atol=1e-6)
    assert torch.equal(out.embedding, enc(**tok).embedding)  # the final layer, pooled once, as without layers
    assert torch.equal(enc(**tok, layers=[3, 1]).embedding, enc(**tok).embedding)  # and when it is not asked for
    assert out.layers == (1, 3, 4)
    with pytest.raises(LeadIRError, match="layers 1..4"):
        enc(**tok, layers=[0])


@pytest.mark.parametrize("pooling,normalize", [("mean", True), ("cls", False)])
def test_saved_encoder_loads_in_sentence_transformers(tiny_dir, tmp_path, pooling, normalize):
    from sentence_transformers import SentenceTransformer

    enc = DenseEncoder.from_pretrained(tiny_dir, EncoderSpec(pooling=pooling, normalize=normalize,
                                                             passage_max_len=24)).eval()
    enc.save(tmp_path / "enc")
    from lead_ir.embed import Embedder

    ours = torch.from_numpy(Embedder(enc, "passage")(TEXTS))
    st = SentenceTransformer(str(tmp_path / "enc"), device="cpu")
    assert st.max_seq_length == 24
    theirs = torch.tensor(st.encode(TEXTS))
    assert torch.allclose(ours, theirs, atol=1e-5)
    reloaded = DenseEncoder.from_pretrained(tmp_path / "enc")
    assert reloaded.spec == enc.spec


def test_keep_layers_first_k_matches_teacher_hidden_state(tiny_dir, tmp_path):
    teacher = AutoModel.from_pretrained(tiny_dir).eval()
    student = keep_layers(teacher, [1, 2, 3]).eval()
    assert student.config.num_hidden_layers == 3 and teacher.config.num_hidden_layers == 4
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    expected = teacher(input_ids=ids, output_hidden_states=True).hidden_states[3]
    assert torch.allclose(student(input_ids=ids).last_hidden_state, expected, atol=1e-5)
    student.save_pretrained(tmp_path / "s")
    reloaded = AutoModel.from_pretrained(tmp_path / "s")
    assert reloaded.config.num_hidden_layers == 3
    assert torch.allclose(reloaded(input_ids=ids).last_hidden_state, expected, atol=1e-5)


def test_keep_layers_subset_copies_the_chosen_blocks(tiny_dir):
    teacher = AutoModel.from_pretrained(tiny_dir)
    student = keep_layers(teacher, [1, 3])
    w_teacher = teacher.encoder.layer[2].output.dense.weight
    w_student = student.encoder.layer[1].output.dense.weight
    assert torch.equal(w_teacher, w_student) and w_teacher.data_ptr() != w_student.data_ptr()
    with pytest.raises(LeadIRError, match="increasing order"):
        keep_layers(teacher, [3, 1])
    with pytest.raises(LeadIRError, match="1..4"):
        keep_layers(teacher, [5])


def test_dense_scores_are_dot_products():
    q, p = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    s = dense_scores(q, p)
    assert s.shape == (2, 3, 5)
    assert torch.isclose(s[1, 2, 4], q[1, 2] @ p[1, 4])


def test_maxsim_matches_loop_and_ignores_padding():
    torch.manual_seed(0)
    q, p = torch.randn(2, 2, 3, 4), torch.randn(2, 3, 5, 4)
    qm = torch.tensor([[1, 1, 0], [1, 1, 1]])
    pm = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    got = maxsim_scores(q, qm, p, pm)
    for layer in range(2):
        for i in range(2):
            for j in range(3):
                expected = sum(max(float(q[layer, i, a] @ p[layer, j, b]) for b in range(5) if pm[j, b])
                               for a in range(3) if qm[i, a])
                assert got[layer, i, j].item() == pytest.approx(expected, rel=1e-5)
    p_big = p.clone()
    p_big[:, 0, 3:] = 100.0  # huge values in padded positions must not change anything
    assert torch.allclose(maxsim_scores(q, qm, p_big, pm), got)


def test_colbert_layer_reps_and_roundtrip(tiny_dir, tmp_path):
    torch.manual_seed(0)
    enc = ColBERTEncoder.from_pretrained(tiny_dir, ColBERTSpec(dim=8, query_max_len=8, passage_max_len=12)).eval()
    reps = enc.layer_reps(TEXTS[:2], TEXTS, [2, 4])
    assert reps.query.shape[:2] == (2, 2) and reps.query.shape[-1] == 8 and reps.passage.shape[:2] == (2, 3)
    assert torch.allclose(reps.query.norm(dim=-1)[..., 0], torch.ones(2, 2), atol=1e-5)
    scores = layer_scores(reps)
    assert scores.shape == (2, 2, 3)
    enc.save(tmp_path / "colbert")
    again = ColBERTEncoder.from_pretrained(tmp_path / "colbert").eval()
    assert again.spec == enc.spec
    assert torch.allclose(layer_scores(again.layer_reps(TEXTS[:2], TEXTS, [2, 4])), scores, atol=1e-5)


def test_cross_encoder_final_layer_head_equals_logits(tiny_dir, tmp_path):
    enc = CrossEncoder.from_pretrained(tiny_dir, CrossEncoderSpec(max_len=32)).eval()
    batch = enc.tokenizer(["sleep"] * 3, TEXTS, padding=True, return_tensors="pt")
    per_layer = enc.layer_scores(**batch, layers=[1, 2, 3, 4])
    logits = enc.model(**batch).logits.squeeze(-1)
    assert per_layer.shape == (4, 3)
    assert torch.allclose(per_layer[-1], logits, atol=1e-5)
    reps = enc.layer_reps(["sleep", "heart"], TEXTS[:2] * 2, [2, 4])
    assert layer_scores(reps).shape == (2, 2, 2)  # [L, Q, 1+n]
    enc.save(tmp_path / "ce")
    again = CrossEncoder.from_pretrained(tmp_path / "ce").eval()
    assert torch.allclose(again.layer_scores(**batch, layers=[4])[0], logits, atol=1e-5)


def test_cross_encoder_rejects_multi_label_models(tiny_dir):
    model = BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=32, num_labels=3))
    with pytest.raises(LeadIRError, match="num_labels=1"):
        CrossEncoder(model, None, CrossEncoderSpec())


def test_different_tokenizers_give_different_ids(tiny_dir, char_dir):
    word = DenseEncoder.from_pretrained(tiny_dir, EncoderSpec())
    char = DenseEncoder.from_pretrained(char_dir, EncoderSpec())
    a, b = word.tokenize(["sleep memory"], 16), char.tokenize(["sleep memory"], 16)
    assert a["input_ids"].shape != b["input_ids"].shape and word.dim != char.dim


def test_missing_weights_is_a_one_line_error(tmp_path):
    with pytest.raises(LeadIRError, match="no model weights"):
        DenseEncoder.from_pretrained(tmp_path)


@pytest.mark.parametrize("groups", [2, 3, 50])
def test_length_groups_give_the_same_vectors_and_gradients_in_input_order(tiny_dir, groups):
    texts = ["a", "a much longer query with many more words than the others", "b c", "d e f g", "h i j k l m"]
    enc = DenseEncoder.from_pretrained(tiny_dir, EncoderSpec(pooling="mean", normalize=True))
    one = enc.layer_reps(texts, texts[::-1], [1, 4])
    (one.query.sum() + one.passage.sum()).backward()
    grads = [p.grad.clone() for p in enc.parameters()]
    enc.zero_grad()
    enc.length_groups = groups
    split = enc.layer_reps(texts, texts[::-1], [1, 4])
    (split.query.sum() + split.passage.sum()).backward()
    assert torch.allclose(split.query, one.query, atol=1e-5) and torch.allclose(split.passage, one.passage, atol=1e-5)
    assert all(torch.allclose(p.grad, g, atol=1e-4) for p, g in zip(enc.parameters(), grads, strict=True))
