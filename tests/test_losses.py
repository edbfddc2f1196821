"""Losses against independent, loop-based computations on fixed tensors."""

from __future__ import annotations

import math

import pytest
import torch

from lead_ir.errors import ConfigError
from lead_ir.losses import LayerSelector, info_nce, kl_rows, layer_weights, lead_layer_loss, margin_mse, response_kd
from lead_ir.losses.objective import ObjectiveSettings, Scores, objective, own_candidates

torch.manual_seed(0)
S = torch.tensor([[0.9, 0.1, -0.2, 0.4], [0.3, 0.8, 0.0, -0.5]])
T = torch.tensor([[0.7, 0.2, 0.1, 0.0], [0.1, 0.6, 0.4, -0.3]])


def _softmax(row, t):
    exps = [math.exp(v / t) for v in row]
    return [e / sum(exps) for e in exps]


def _kl(s_row, t_row, ts, tt):
    ps, pt = _softmax(s_row, ts), _softmax(t_row, tt)
    return sum(b * math.log(b / a) for a, b in zip(ps, pt))


def test_info_nce_matches_loop():
    pos = torch.tensor([0, 1])
    expected = sum(-math.log(_softmax(S[q].tolist(), 0.5)[int(pos[q])]) for q in range(2)) / 2
    assert info_nce(S, pos, 0.5)["contrastive"].item() == pytest.approx(expected, rel=1e-6)


def test_info_nce_rejects_bad_temperature():
    with pytest.raises(ValueError, match="temperature"):
        info_nce(S, torch.tensor([0, 1]), 0.0)


def test_kl_matches_loop_with_temperatures():
    got = kl_rows(S, T, 0.5, 2.0)
    for q in range(2):
        assert got[q].item() == pytest.approx(_kl(S[q].tolist(), T[q].tolist(), 0.5, 2.0), rel=1e-5)
    assert response_kd(S, T, 0.5, 2.0)["response"].item() == pytest.approx(got.mean().item(), rel=1e-6)


def test_kl_is_zero_for_equal_scores():
    assert kl_rows(S, S.clone(), 0.05, 0.05).abs().max().item() < 1e-6
    assert response_kd(T, T.clone())["response"].item() == pytest.approx(0.0, abs=1e-7)


def test_kl_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="same candidates"):
        kl_rows(S, T[:, :3])


def test_margin_mse_matches_loop():
    expected = []
    for q in range(2):
        for j in range(1, 4):
            expected.append(((S[q, 0] - S[q, j]) - (T[q, 0] - T[q, j])).item() ** 2)
    assert margin_mse(S, T)["margin_mse"].item() == pytest.approx(sum(expected) / len(expected), rel=1e-6)


def test_lead_layer_loss_matches_loop_and_weights_have_no_grad():
    s = torch.randn(3, 2, 4, requires_grad=True)
    t = torch.randn(3, 2, 4, requires_grad=True)
    pos = torch.tensor([0, 2])
    out = lead_layer_loss(s, t, pos, "teacher-loss", tau=10.0, student_temperature=0.5, teacher_temperature=0.5)
    ce = [sum(-math.log(_softmax(t[k, q].tolist(), 0.5)[int(pos[q])]) for q in range(2)) / 2 for k in range(3)]
    w = _softmax([-c for c in ce], 10.0)
    kl = [sum(_kl(s[k, q].tolist(), t[k, q].tolist(), 0.5, 0.5) for q in range(2)) / 2 for k in range(3)]
    assert out["layer"].item() == pytest.approx(sum(a * b for a, b in zip(w, kl)), rel=1e-5)
    assert out["layer_weights"].tolist() == pytest.approx(w, rel=1e-5)
    assert not out["layer_weights"].requires_grad and not out["layer_kl"].requires_grad
    # the weights are constants: d(layer)/d(kl_k) equals w_k exactly
    kl_t = kl_rows(s, t, 0.5, 0.5).mean(-1)
    grad_via_weights = torch.autograd.grad(out["layer"], s, retain_graph=True)[0]
    expected_grad = torch.autograd.grad((out["layer_weights"] * kl_t).sum(), s)[0]
    assert torch.allclose(grad_via_weights, expected_grad, atol=1e-6)


def test_lead_layer_loss_zero_when_equal():
    s = torch.randn(2, 3, 5)
    out = lead_layer_loss(s, s.clone(), torch.zeros(3, dtype=torch.long), "uniform")
    assert out["layer"].item() == pytest.approx(0.0, abs=1e-6)
    assert out["layer_weights"].tolist() == [0.5, 0.5]


def test_layer_weights_modes():
    assert layer_weights("fixed", fixed=[0.2, 0.8], k=2).tolist() == pytest.approx([0.2, 0.8])
    with pytest.raises(ValueError, match="needs 3 layer_weights"):
        layer_weights("fixed", fixed=[1.0], k=3)
    ce = torch.tensor([1.0, 2.0], requires_grad=True)
    w = layer_weights("teacher-loss", ce, tau=1.0)
    assert not w.requires_grad and w[0] > w[1]
    assert w.tolist() == pytest.approx(_softmax([-1.0, -2.0], 1.0))


def test_random_selection_sorted_distinct_paired():
    sel = LayerSelector("random", teacher_layers=6, student_layers=3, k=3, redraw_every=10, seed=5)
    for step in range(0, 300, 7):
        pairs = sel.pairs(step)
        t, s = [p[0] for p in pairs], [p[1] for p in pairs]
        assert t == sorted(set(t)) and s == sorted(set(s)) and len(pairs) == 3
        assert all(1 <= x <= 6 for x in t) and s == [1, 2, 3]


def test_random_selection_redraws_exactly_every_r_steps():
    r = 4
    sel = LayerSelector("random", teacher_layers=6, student_layers=4, k=2, redraw_every=r, seed=1)
    changes = [step for step in range(1, 400) if sel.pairs(step) != sel.pairs(step - 1)]
    assert changes and all(step % r == 0 for step in changes)  # never changes inside a window
    assert len(changes) >= 0.8 * (400 // r)  # and (almost always, 1/90 collisions) changes at each boundary
    # a pure function of (seed, step // R): a fresh selector (another process, a resumed run) agrees
    other = LayerSelector("random", teacher_layers=6, student_layers=4, k=2, redraw_every=r, seed=1)
    assert [other.pairs(s) for s in range(400)] == [sel.pairs(s) for s in range(400)]
    assert [LayerSelector("random", 6, 4, 2, r, seed=2).pairs(s) for s in range(400)] != \
        [sel.pairs(s) for s in range(400)]


def test_deterministic_selections_and_errors():
    assert LayerSelector("last", 6, 3, k=2).pairs(0) == [(5, 2), (6, 3)]
    assert LayerSelector("last", 6, 3, k=2, exclude_final=True).pairs(0) == [(4, 1), (5, 2)]
    assert LayerSelector("skip", 6, 3, k=3).pairs(0) == [(2, 1), (4, 2), (6, 3)]
    assert LayerSelector("map", 6, 3, layer_map=[[3, 1], [6, 3]]).pairs(9) == [(3, 1), (6, 3)]
    with pytest.raises(ValueError, match="choose 1..2"):
        LayerSelector("random", 6, 3, k=3, exclude_final=True)
    with pytest.raises(ValueError, match="layer_map pair"):
        LayerSelector("map", 6, 3, layer_map=[[7, 1]])


def test_random_selection_excludes_final_layers():
    sel = LayerSelector("random", 6, 4, k=3, exclude_final=True, seed=3)
    assert all(t < 6 and s < 4 for step in range(0, 200, 10) for t, s in sel.pairs(step))


def _global_scores(layers, q, group, requires_grad=False):
    return torch.randn(layers, q, q * group, requires_grad=requires_grad)


def test_objective_total_is_weighted_sum_and_frozen_teacher_gets_no_grad():
    group, q = 3, 2
    s = _global_scores(3, q, group, requires_grad=True)
    t = _global_scores(4, q, group, requires_grad=True)
    cfg = ObjectiveSettings(weights={"student": 1.0, "response": 0.5, "layer": 2.0, "margin_mse": 0.3},
                            student_temperature=0.5, teacher_temperature=0.7, reweight="uniform")
    pairs = [(1, 1), (3, 2)]
    parts = objective(Scores(s, (1, 2, 3)), Scores(t, (1, 2, 3, 4)), group, pairs, cfg)
    pos = torch.arange(q) * group
    stu = info_nce(s[-1], pos, 0.5)["contrastive"]
    rep = kl_rows(s[-1], t[-1], 0.5, 0.7).mean()
    lyr = 0.5 * kl_rows(s[0], t[0], 0.5, 0.7).mean() + 0.5 * kl_rows(s[1], t[2], 0.5, 0.7).mean()
    mm = margin_mse(own_candidates(s[-1], group), own_candidates(t[-1], group))["margin_mse"]
    assert parts.loss.item() == pytest.approx((stu + 0.5 * rep + 2.0 * lyr + 0.3 * mm).item(), rel=1e-5)
    parts.loss.backward()
    assert s.grad is not None and t.grad is None  # frozen: teacher targets are detached


def test_objective_kd_terms_zero_for_identical_models():
    s = _global_scores(2, 2, 4)
    cfg = ObjectiveSettings(reweight="teacher-loss")
    parts = objective(Scores(s, (1, 2)), Scores(s.clone(), (1, 2)), 4, [(1, 1), (2, 2)], cfg)
    assert parts.terms["response"].item() == pytest.approx(0.0, abs=1e-6)
    assert parts.terms["layer"].item() == pytest.approx(0.0, abs=1e-6)


def test_objective_cross_encoder_teacher_uses_own_candidates():
    group, q = 3, 2
    s = _global_scores(2, q, group)
    t = torch.randn(2, q, group)  # a cross-encoder scores only each query's own candidates
    cfg = ObjectiveSettings(weights={"student": 1.0, "response": 1.0, "layer": 0.0})
    parts = objective(Scores(s, (1, 2)), Scores(t, (1, 2)), group, [], cfg)
    own = torch.stack([s[-1, i, i * group:(i + 1) * group] for i in range(q)])
    assert parts.terms["response"].item() == pytest.approx(kl_rows(own, t[-1], 0.05, 0.05).mean().item(), rel=1e-5)


def test_objective_joint_adds_teacher_terms_with_gradient():
    group, q = 2, 2
    s = _global_scores(2, q, group, requires_grad=True)
    t = _global_scores(2, q, group, requires_grad=True)
    cfg = ObjectiveSettings(weights={"student": 1.0, "response": 1.0, "layer": 0.0, "teacher": 1.0,
                                     "reverse": 1.0}, joint=True)
    parts = objective(Scores(s, (1, 2)), Scores(t, (1, 2)), group, [], cfg)
    pos = torch.arange(q) * group
    assert parts.terms["teacher"].item() == pytest.approx(info_nce(t[-1], pos, 0.05)["contrastive"].item(), rel=1e-6)
    assert parts.terms["reverse"].item() == pytest.approx(
        sum(_kl(t[1, i].tolist(), s[1, i].tolist(), 0.05, 0.05) for i in range(q)) / q, rel=1e-4)
    parts.loss.backward()
    assert t.grad is not None and t.grad.abs().sum() > 0


def test_objective_rejects_unknown_weight():
    with pytest.raises(ConfigError, match="unknown loss weight 'layr'"):
        objective(Scores(_global_scores(1, 2, 2), (1,)), None, 2, [], ObjectiveSettings(weights={"layr": 1.0}))
