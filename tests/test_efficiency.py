"""Precision policy (bf16 autocast in training, the teacher cache and encoding) and the cost side of a row."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from fixtures_models import CHAR_VOCAB, DOCS, WORD_VOCAB, build_tiny_bert, write_toy_data

from lead_ir.compare import compare_scores
from lead_ir.errors import InputFormatError, LeadIRError
from lead_ir.precision import cpu_bf16_fast, resolve_precision

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("eff")
    corpus, train = write_toy_data(root / "data")
    return {"root": root, "corpus": corpus, "train": train,
            "teacher": build_tiny_bert(root / "teacher", WORD_VOCAB, hidden=32, layers=4),
            "student": build_tiny_bert(root / "student", CHAR_VOCAB, hidden=48, layers=2, seed=1)}


# --------------------------------------------------------------------------- precision policy
def test_auto_precision_follows_the_hardware():
    assert resolve_precision("auto", "cpu") == ("bf16" if cpu_bf16_fast() else "fp32")
    assert resolve_precision("auto", "mps") == "fp32"
    assert resolve_precision("fp32", "cpu") == "fp32" and resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(LeadIRError, match="fp16 needs a GPU"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(LeadIRError, match="unknown"):
        resolve_precision("int8", "cpu")


def test_the_bf16_switch_decides_what_auto_means_and_nothing_else(monkeypatch):
    from lead_ir.precision import DEFAULT_PRECISION, explain_auto

    assert DEFAULT_PRECISION == "fp32"
    for value, expected in (("1", "bf16"), ("0", "fp32")):
        monkeypatch.setenv("LEAD_IR_CPU_BF16", value)
        assert cpu_bf16_fast() is (expected == "bf16") and resolve_precision("auto", "cpu") == expected
        resolved, why = explain_auto("cpu")
        assert resolved == expected and f"LEAD_IR_CPU_BF16={value} overrides the CPU probe" in why
        assert resolve_precision("fp32", "cpu") == "fp32"
    monkeypatch.setenv("LEAD_IR_CPU_BF16", "maybe")
    with pytest.raises(LeadIRError, match="LEAD_IR_CPU_BF16='maybe' is not understood"):
        cpu_bf16_fast()
    monkeypatch.delenv("LEAD_IR_CPU_BF16")
    assert "overrides" not in explain_auto("cpu")[1]


def test_auto_picks_native_bf16_only_where_it_measures_faster(monkeypatch):
    """Native but slow bf16 (a 2-core Xeon with AVX512-BF16 and no AMX ran bf16 matmuls at 0.6x fp32) is
    not what auto picks; native and fast is; the doctor's reason gives the measured speed-up."""
    from lead_ir import precision

    monkeypatch.delenv("LEAD_IR_CPU_BF16", raising=False)
    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: True)
    for speedup, expected in ((0.6, "fp32"), (1.19, "fp32"), (2.3, "bf16")):
        monkeypatch.setattr(precision, "cpu_bf16_speedup", lambda s=speedup: s)
        assert precision.cpu_bf16_fast() is (expected == "bf16") and resolve_precision("auto", "cpu") == expected
        resolved, why = precision.explain_auto("cpu")
        assert resolved == expected and f"{speedup:.2f}x as fast as fp32" in why
    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: False)
    assert resolve_precision("auto", "cpu") == "fp32" and "lacks native bf16" in precision.explain_auto("cpu")[1]


def test_the_bf16_speed_probe_leaves_the_global_rng_alone():
    import math

    import torch

    from lead_ir.precision import cpu_bf16_native, cpu_bf16_speedup

    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    cpu_bf16_speedup.cache_clear()
    speedup = cpu_bf16_speedup()
    assert torch.equal(torch.rand(3), expected)
    assert math.isnan(speedup) if not cpu_bf16_native() else speedup > 0  # measured only where bf16 is native


def test_doctor_says_what_auto_resolves_to_and_why(cpu_bf16):
    from lead_ir.cli.doctor import _precision_rows

    rows = dict(_precision_rows())
    assert rows["precision default"].startswith("fp32")
    assert rows["precision auto"].startswith(("bf16" if cpu_bf16 else "fp32") + " on cpu: LEAD_IR_CPU_BF16=")


def test_queries_follow_the_precision_their_index_recorded(cpu_bf16):
    from lead_ir.precision import query_precision

    for recorded in ("fp32", "bf16"):
        assert query_precision(recorded, "cpu") == recorded and query_precision(recorded, "cpu", "index") == recorded
    assert query_precision(None, "cpu") == "fp32"  # an index made by another tool: fp32, as Pyserini encodes
    assert query_precision("fp32", "cpu", "auto") == ("bf16" if cpu_bf16 else "fp32")  # asked for: resolved once
    with pytest.raises(LeadIRError, match="encoded in fp16 .* --query-precision fp32"):
        query_precision("fp16", "cpu")
    with pytest.raises(LeadIRError, match="re-run `lead-ir encode`"):
        query_precision("auto", "cpu")  # a recorded precision is always a resolved one


def test_a_resumed_training_keeps_the_precision_its_checkpoint_recorded(models, tmp_path, monkeypatch):
    """Started where auto means bf16 and resumed where it means fp32: the run goes on in bf16 (one training, one
    precision); an explicit other precision is refused with one line."""
    from lead_ir.config import load_config
    from lead_ir.fileio import read_json
    from lead_ir.training.config import TrainConfig
    from lead_ir.training.loop import Trainer

    def config(*extra: str):
        return load_config(TrainConfig, None, [
            f"data.train={models['train']}", f"data.corpus={models['corpus']}", "data.negatives=3",
            f"student.path={models['student']}", "student.pooling=mean", f"run.output_dir={tmp_path / 'out'}",
            "optim.batch_queries=4", "optim.lr=1e-3", "run.threads=1", "run.save_every=1", *extra])

    monkeypatch.setenv("LEAD_IR_CPU_BF16", "1")
    first = Trainer(config("optim.max_steps=2", "optim.precision=auto"))
    first.fit()
    assert first.precision == "bf16" and read_json(tmp_path / "out" / "summary.json")["precision"] == "bf16"
    checkpoint = tmp_path / "out" / "checkpoints" / "step-1" / "trainer_state.json"
    assert read_json(checkpoint)["precision"] == "bf16"
    monkeypatch.setenv("LEAD_IR_CPU_BF16", "0")
    assert Trainer(config("optim.max_steps=3", "optim.precision=auto", "run.resume=true")).precision == "bf16"
    assert Trainer(config("optim.max_steps=3", "optim.precision=auto")).precision == "fp32"  # a fresh start
    with pytest.raises(LeadIRError, match="was trained in bf16, but optim.precision=fp32; resume with "
                                          "optim.precision=bf16"):
        Trainer(config("optim.max_steps=3", "optim.precision=fp32", "run.resume=true"))


def _embed(model: Path, precision: str) -> np.ndarray:
    from lead_ir.encode import EncodeOptions, corpus_embedder
    from lead_ir.models.encoder import DenseEncoder

    encoder = DenseEncoder.from_pretrained(model)
    embedder = corpus_embedder(encoder, EncodeOptions(device="cpu", precision=precision, batch_size=4))
    assert embedder.precision == resolve_precision(precision, "cpu")
    return embedder(list(DOCS.values()))


def test_bf16_and_auto_vectors_match_fp32(models):
    full = _embed(models["teacher"], "fp32")
    for precision in ("bf16", "auto"):
        other = _embed(models["teacher"], precision)
        assert other.dtype == np.float32
        cosine = np.sum(full * other, 1) / np.linalg.norm(full, axis=1) / np.linalg.norm(other, axis=1)
        assert cosine.min() >= 0.999, (precision, cosine.min())
    assert not np.array_equal(full, _embed(models["teacher"], "bf16"))  # bf16 autocast really ran


def test_encode_options_aliases_and_conflicts():
    from lead_ir.encode import EncodeOptions

    assert EncodeOptions(bf16=True).precision == "bf16" and EncodeOptions().precision == "fp32"
    assert EncodeOptions(fp16=True).precision == "fp16" and EncodeOptions(precision="auto").precision == "auto"
    with pytest.raises(LeadIRError, match="contradicts --precision fp32"):
        EncodeOptions(bf16=True, precision="fp32")
    with pytest.raises(LeadIRError, match="unknown"):
        EncodeOptions(precision="half")


def test_bf16_training_scores_losses_in_float32_and_keys_the_cache(models, tmp_path):
    from lead_ir.config import load_config
    from lead_ir.training.cache import cache_key
    from lead_ir.training.config import TrainConfig
    from lead_ir.training.loop import Trainer

    cfg = load_config(TrainConfig, None, [
        f"data.train={models['train']}", f"data.corpus={models['corpus']}", "data.negatives=3",
        f"student.path={models['student']}", "student.pooling=mean", f"teacher.path={models['teacher']}",
        "teacher.pooling=mean", f"teacher.cache_dir={tmp_path / 'cache'}", f"run.output_dir={tmp_path / 'out'}",
        "optim.batch_queries=4", "optim.max_steps=2", "optim.lr=1e-3", "loss.num_layer_pairs=2", "run.threads=1",
        "optim.precision=bf16"])
    trainer = Trainer(cfg)
    assert trainer.precision == "bf16"
    seen = {}
    objective = sys.modules["lead_ir.training.step"].objective

    def spy(student, teacher, *args):
        seen["dtypes"] = (student.values.dtype, teacher.values.dtype, torch.is_autocast_enabled("cpu"))
        return objective(student, teacher, *args)

    sys.modules["lead_ir.training.step"].objective = spy
    try:
        summary = trainer.fit()
    finally:
        sys.modules["lead_ir.training.step"].objective = objective
    assert seen["dtypes"] == (torch.float32, torch.float32, False)
    log = [json.loads(line) for line in (tmp_path / "out" / "train_log.jsonl").read_text().splitlines()]
    assert summary["steps"] == 2 and all(math.isfinite(row["loss"]) for row in log if "loss" in row)
    built = [p.name for p in (tmp_path / "cache").iterdir()]
    teacher = trainer.teacher_source
    assert len(built) == 1 and teacher.cache is not None
    from lead_ir.models.factory import build_model

    model = build_model(cfg.teacher)
    args = (model, cfg.teacher, Path(models["teacher"]), str(models["train"]), str(models["corpus"]),
            cfg.data.negatives_depth)
    assert built == [cache_key(*args, "bf16")] and cache_key(*args, "bf16") != cache_key(*args)
    assert cache_key(*args) == cache_key(*args, "fp32")


# --------------------------------------------------------------------------- costs
def test_model_size_index_size_and_latency(models, tmp_path):
    from lead_ir.efficiency import index_size, machine_description, model_size, query_latency
    from lead_ir.encode import EncodeOptions, encode_corpus

    size = model_size(models["teacher"])
    bert = build_tiny_bert(tmp_path / "again", WORD_VOCAB, hidden=32, layers=4)
    from transformers import BertModel

    reference = BertModel.from_pretrained(bert, add_pooling_layer=False)  # DenseEncoder drops the pooler too
    assert size == {"params": sum(p.numel() for p in reference.parameters()), "layers": 4, "dim": 32}
    meta = encode_corpus(str(models["teacher"]), str(models["corpus"]), tmp_path / "index",
                         EncodeOptions(device="cpu", precision="fp32"))
    assert meta["precision"] == "fp32" and meta["encoded"] == 16 and meta["docs_per_s"] > 0
    files = [p for p in (tmp_path / "index").iterdir()]
    assert index_size(tmp_path / "index") == sum(p.stat().st_size for p in files) > 16 * 32 * 4
    with pytest.raises(LeadIRError, match="no such index folder"):
        index_size(tmp_path / "missing")

    threads = torch.get_num_threads()
    latency = query_latency({"big": models["teacher"], "small": models["student"]}, ["vitamin diet"] * 12, warmup=2)
    assert torch.get_num_threads() == threads
    for figures in latency.values():
        assert figures["queries"] == 12 and 0 < figures["query_ms_p50"] <= figures["query_ms_p95"]
    in_turns_of_5 = query_latency({"big": models["teacher"]}, [f"query {i}" for i in range(12)], warmup=0, turn=5)
    assert in_turns_of_5["big"]["queries"] == 12  # every query timed once; a turn's untimed switch is extra
    with pytest.raises(LeadIRError, match="a turn of 0 queries is empty"):
        query_latency({"big": models["teacher"]}, ["q"], turn=0)
    assert "cores" in machine_description()


def _comparison():
    idx = pd.Index([f"q{i}" for i in range(6)])
    scores = {"bm25": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "student": [0.2, 0.2, 0.5, 0.4, 0.7, 0.6],
              "teacher": [0.3, 0.4, 0.5, 0.5, 0.7, 0.9]}
    return compare_scores({n: pd.DataFrame({"ndcg@10": v}, index=idx) for n, v in scores.items()}, ["ndcg@10"],
                          ["bm25"])


def test_leaderboard_cost_columns_in_markdown_latex_csv(tmp_path):
    costs = {"student": {"params": 17_400_000, "layers": 3, "dim": 384, "index_bytes": 7_960_000,
                         "query_ms_p50": 4.25, "query_ms_p95": 6.5, "docs_per_s": 80.0},
             "teacher": {"params": 22_700_000, "layers": 6, "dim": 384, "query_ms_p50": 8.0, "query_ms_p95": 9.1}}
    comparison = _comparison().with_costs(costs, "batch 1, 1 thread on TestCPU")
    md = comparison.to_markdown()
    header = md.splitlines()[0]
    for label in ("params (M)", "layers", "dim", "index MB", "query ms p50", "query ms p95", "docs/s"):
        assert label in header
    rows = {line.split(" | ")[0].strip("| "): line for line in md.splitlines()[2:5]}
    assert "| 17.4 | 3 | 384 | 8.0 | 4.25 | 6.50 | 80.0 |" in rows["student"]
    assert rows["bm25"].endswith("|  |  |  |  |  |  |  |")  # a run without costs gets empty cells
    assert "| 8.00 | 9.10 |  |" in rows["teacher"]  # a missing figure is an empty cell, not a zero
    assert "Costs: batch 1, 1 thread on TestCPU." in md
    assert "query ms p50" in comparison.to_latex() and "TestCPU" in comparison.to_latex()
    csv = pd.read_csv(pd.io.common.StringIO(comparison.to_csv()), index_col=0)
    assert csv.at["student", "cost:query_ms_p50"] == 4.25 and math.isnan(csv.at["bm25", "cost:params"])
    with pytest.raises(LeadIRError, match="not in the table"):
        _comparison().with_costs({"studnet": {"layers": 3}})
    with pytest.raises(LeadIRError, match="unknown field"):
        _comparison().with_costs({"student": {"latency": 3}})
    assert "params (M)" not in _comparison().to_markdown()


def test_cost_side_files_and_compare_cli(tmp_path):
    from lead_ir.efficiency import read_costs

    (tmp_path / "c.json").write_text(json.dumps({"b": {"layers": 3, "query_ms_p50": 2.5}, "_caption": "on X"}))
    (tmp_path / "c.csv").write_text("run,layers,query_ms_p50,docs_per_s\nb,3,2.5,\n")
    assert read_costs(tmp_path / "c.json") == read_costs(tmp_path / "c.csv") == {"b": {"layers": 3.0,
                                                                                        "query_ms_p50": 2.5}}
    (tmp_path / "bad.csv").write_text("name,layers\nb,3\n")
    with pytest.raises(InputFormatError, match="'run' column"):
        read_costs(tmp_path / "bad.csv")
    (tmp_path / "bad.json").write_text(json.dumps({"b": {"speed": 1}}))
    with pytest.raises(InputFormatError, match="unknown cost field"):
        read_costs(tmp_path / "bad.json")

    (tmp_path / "qrels.txt").write_text("".join(f"q{i} 0 d{i} 1\n" for i in range(4)))
    for name, swap in (("a", False), ("b", True)):  # b ranks the relevant document second on odd queries
        lines = []
        for i in range(4):
            first, second = f"d{i}", f"d{(i + 1) % 4}"
            if swap and i % 2:
                first, second = second, first
            lines += [f"q{i} Q0 {first} 1 1.0 {name}\n", f"q{i} Q0 {second} 2 0.5 {name}\n"]
        (tmp_path / f"{name}.trec").write_text("".join(lines))
    out = subprocess.run([sys.executable, "-m", "lead_ir", "compare", str(tmp_path / "a.trec"),
                          str(tmp_path / "b.trec"), "--qrels", str(tmp_path / "qrels.txt"), "--baseline", "a",
                          "--metrics", "ndcg@10", "--costs", str(tmp_path / "c.json"), "--output-dir",
                          str(tmp_path / "board")], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    board = (tmp_path / "board" / "leaderboard.md").read_text()
    assert "query ms p50" in board and "| 3 | 2.50 |" in board and "Costs: on X." in board


def test_quality_latency_plot(tmp_path):
    from lead_ir.plots import plot_quality_latency

    path = tmp_path / "q.png"
    fig = plot_quality_latency({"student": (4.0, 0.5), "teacher": (8.0, 0.55)}, path)
    assert len(fig.axes[0].get_legend().get_texts()) == 2  # one legend entry per row
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(LeadIRError, match="no rows"):
        plot_quality_latency({}, tmp_path / "e.png")


@pytest.mark.slow
def test_device_check_dry_run_writes_the_table(tmp_path):
    """bench/device_check.sh --dry-run: the GPU script's code paths on the CPU at toy sizes."""
    out = tmp_path / "check.md"
    done = subprocess.run(["bash", str(REPO / "bench" / "device_check.sh"), "--dry-run", "--out", str(out)],
                          capture_output=True, text=True, cwd=REPO, env=os.environ | {"PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr[-2000:]
    table = out.read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| what")]
    assert [r.split(" | ")[0] for r in rows] == ["| encode"] * 3 + ["| train"] * 2 + ["| quickstart"]
    assert "lead-ir encode --precision bf16" in table and "LEAD step with the frozen-teacher cache" in table
    cosines = [float(r.split("min cosine ")[1].split(")")[0]) for r in rows if "min cosine" in r]
    assert len(cosines) == 2 and min(cosines) > 0.99  # our vectors match SentenceTransformer's
    assert all(float(r.split(" | ")[2].split()[0]) > 0 for r in rows[:5])
