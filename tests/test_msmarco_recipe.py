"""configs/msmarco-passage-lead.yaml validates, dry-runs, and runs end to end on a tiny synthetic
corpus in the MS MARCO file formats (collection TSV, queries TSV, TREC qrels)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures_models import WORD_VOCAB, build_tiny_bert

from lead_ir.cli import main
from lead_ir.experiment.study import Study, load_experiment

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "configs" / "msmarco-passage-lead.yaml"
WORDS = ("what is the cost of solar panels how long does flu last define osmosis capital of peru symptoms of "
         "anemia who wrote hamlet boiling point water average salary nurse population of texas").split()


def synthetic_msmarco(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    passages = {str(i): " ".join(WORDS[(i * 5 + j) % len(WORDS)] for j in range(8)) for i in range(60)}
    (root / "collection.tsv").write_text("".join(f"{pid}\t{text}\n" for pid, text in passages.items()))

    def queries(name: str, ids: range) -> None:
        (root / f"queries.{name}.tsv").write_text("".join(f"{1000 + i}\t{' '.join(passages[str(i)].split()[:4])}\n"
                                                          for i in ids))
        (root / f"qrels.{name}.tsv").write_text("".join(f"{1000 + i}\t0\t{i}\t{1 + i % 3 if name != 'train' else 1}\n"
                                                        for i in ids))

    queries("train", range(0, 24))
    queries("dev", range(24, 32))
    queries("dl", range(32, 40))
    return {"root": root}


def recipe_overrides(data: Path, teacher: Path, work: Path) -> list[str]:
    return [f"data.corpus={data / 'collection.tsv'}", f"data.train_topics={data / 'queries.train.tsv'}",
            f"data.train_qrels={data / 'qrels.train.tsv'}", f"data.test_topics={data / 'queries.dev.tsv'}",
            f"data.test_qrels={data / 'qrels.dev.tsv'}", "data.dev_fraction=0.25",
            f"data.extra_test_sets=[{{name: dl, topics: {data / 'queries.dl.tsv'}, "
            f"qrels: {data / 'qrels.dl.tsv'}, metrics: [ndcg@10]}}]",
            f"teacher.model={teacher}", "teacher.train.optim.max_steps=2", "train.optim.max_steps=3",
            "train.optim.batch_queries=4", "train.data.negatives=2", "train.data.negatives_depth=8",
            "train.run.eval_every=3", "train.run.save_every=0", "evaluation.dev_pool_depth=4",
            "train.run.threads=1", "bm25.threads=1",
            "bm25.train_depth=10", "mining.depth=10", "mining.num_negatives=8", "encode.batch_size=16",
            "arms.2.train.loss.num_layer_pairs=3", "evaluation.run_depth=20",
            f"output_dir={work / 'exp'}", f"results_dir={work / 'results'}"]


def test_recipe_validates_and_dry_runs(tmp_path, capsys):
    cfg = load_experiment(RECIPE)
    assert [arm.name for arm in cfg.arms] == ["contrastive", "response-kd", "lead"]
    assert cfg.arms[2].student_layers == [1, 2, 3, 4, 5, 6]
    assert [t.name for t in cfg.data.extra_test_sets] == ["dl19", "dl20"]
    if not Path(cfg.data.corpus).exists():  # the dry run checks inputs as the real run would (issue 12)
        assert main(["experiment", str(RECIPE), "--dry-run"]) == 2
        assert f"data.corpus: {cfg.data.corpus} does not exist" in capsys.readouterr().err
    data = synthetic_msmarco(tmp_path / "msmarco")["root"]
    paths = [f"data.corpus={data / 'collection.tsv'}", f"data.train_topics={data / 'queries.train.tsv'}",
             f"data.train_qrels={data / 'qrels.train.tsv'}"]
    assert main(["experiment", str(RECIPE), *paths, "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "teacher-warmup" in plan and "student-lead" in plan and "leaderboard" in plan and "dev-pool" in plan


@pytest.mark.slow
@pytest.mark.java
def test_recipe_end_to_end_on_synthetic_msmarco(tmp_path):
    data = synthetic_msmarco(tmp_path / "msmarco")["root"]
    teacher = build_tiny_bert(tmp_path / "teacher", WORD_VOCAB, hidden=32, layers=6)
    overrides = recipe_overrides(data, teacher, tmp_path)
    assert Study(load_experiment(RECIPE, overrides)).rows()[-1] == "lead"
    assert main(["-q", "experiment", str(RECIPE), *overrides]) == 0
    results = tmp_path / "results"
    for name in ("leaderboard.md", "leaderboard-dl.md", "bm25.trec", "lead.trec", "lead.dl.trec", "hybrid.trec"):
        assert (results / name).exists(), name
    board = (results / "leaderboard.md").read_text()
    assert "MRR@10" in board and "lead" in board
    assert "nDCG@10" in (results / "leaderboard-dl.md").read_text()
    # Dev evaluation searched the pool (BM25 top 4 + judged documents of the dev queries), not all 60 passages.
    stages = tmp_path / "exp" / "stages"
    pool = [json.loads(line)["id"] for line in (stages / "dev-pool" / "dev-corpus.jsonl").read_text().splitlines()]
    dev_judged = {line.split()[2] for line in (stages / "split" / "dev-qrels.txt").read_text().splitlines()}
    assert dev_judged <= set(pool) and len(pool) == len(set(pool)) < 60
    log_file = stages / "student-lead" / "train" / "train_log.jsonl"
    log = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert any("eval/ndcg@10" in row or "eval/mrr@10" in row for row in log)
