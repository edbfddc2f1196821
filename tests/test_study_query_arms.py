"""Query-student arms in a study (``train.student.tower: query``): no encode stage of their own, dense runs over
their teacher row's index, costs of their own query encoder with the teacher's index; and one tiny study that
runs such an arm end to end through `lead-ir experiment`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from fixtures_models import WORD_VOCAB, build_tiny_bert

from lead_ir.errors import ConfigError

QUERY = {"student": {"tower": "query"}}


def _config(tmp_path: Path, arms: list[dict], teacher: Path | None = None, **extra) -> Path:
    """The tiny study of tests/test_experiment.py with ``arms`` (and any top-level ``extra`` sections)."""
    from test_experiment import write_config

    if teacher is None:
        teacher = tmp_path / "teacher"
        teacher.mkdir(exist_ok=True)  # planning reads no model
    path = write_config(tmp_path, teacher)
    data = yaml.safe_load(path.read_text())
    data["arms"] = arms
    data["evaluation"]["baselines"] = ["bm25"]
    data.update(extra)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _study(path: Path, overrides: list[str] | None = None):
    from lead_ir.experiment.study import Study, load_experiment

    return Study(load_experiment(path, overrides))


def _deps(study) -> dict[str, tuple[str, ...]]:
    return {stage.name: stage.deps for stage in study.pipeline.stages}


def test_a_query_arm_searches_its_teacher_rows_index_and_has_no_encode_stage(tmp_path):
    study = _study(_config(tmp_path, [
        {"name": "q", "student_layers": [1, 2], "train": QUERY},
        {"name": "q0", "student_layers": [1], "teacher": "zero-shot", "train": QUERY},
        {"name": "lead", "student_layers": [1, 2], "train": {}}]))
    deps = _deps(study)
    assert "encode-q" not in deps and "encode-q0" not in deps and "encode-lead" in deps
    assert study.train_configs["q"].student.tower == "query" and study.query_teacher_row("q") == "teacher-warmup"
    assert study.query_teacher_row("lead") is None and study.query_teacher_row("teacher-warmup") is None
    # its runs: its own query encoder (the training stage) over the teacher row's index
    assert deps["dense-q"] == ("encode-teacher-warmup", "student-q", "split")
    assert deps["dense-q0"] == ("encode-teacher-zero-shot", "student-q0", "split")
    assert deps["dense-lead"] == ("encode-lead", "split")
    # its dev evaluation searches the same index, so its training waits for the index, whatever the listed order
    assert deps["student-q"] == ("mine", "teacher-warmup", "encode-teacher-warmup")
    assert deps["student-q0"] == ("mine", "encode-teacher-zero-shot")
    names = [stage.name for stage in study.pipeline.stages]
    assert all(names.index(dep) < names.index(stage) for stage, stage_deps in deps.items() for dep in stage_deps)
    # costs: each query arm's model and its teacher's index (which is there once), every other row's index
    assert deps["costs"] == ("split", "encode-teacher-zero-shot", "encode-teacher-warmup", "student-q", "student-q0",
                             "encode-lead")
    assert "dense-q" in deps["hybrid"] and "dense-q0" in deps["leaderboard"]
    assert study.rows() == ["teacher-zero-shot", "teacher-warmup", "q", "q0", "lead"]
    # the rows query students search keep every layer of their passages for the students' teacher cache
    assert not any(study.keeps_passage_layers(row) for row in study.rows())  # off by default
    kept = _study(_config(tmp_path, [{"name": "q", "student_layers": [1, 2], "train": QUERY},
                                     {"name": "lead", "student_layers": [1, 2], "train": {}}]),
                  ["encode.teacher_layers=true"])
    assert [row for row in kept.rows() if kept.keeps_passage_layers(row)] == ["teacher-warmup"]


def test_a_query_arm_at_each_seed_searches_the_warm_up_of_that_seed_or_of_its_first(tmp_path):
    arms = [{"name": "q", "student_layers": [1, 2], "train": QUERY}]
    study = _study(_config(tmp_path, arms, seeds=[7, 8]))
    deps = _deps(study)
    assert deps["dense-q@s8"] == ("encode-teacher-warmup@s8", "student-q@s8", "split")
    assert deps["student-q@s8"] == ("mine", "teacher-warmup@s8", "encode-teacher-warmup@s8")
    assert "encode-q@s8" not in deps and deps["costs"][-2:] == ("encode-teacher-warmup", "student-q")
    one = _deps(_study(_config(tmp_path, arms, seeds=[7, 8]), ["teacher.seeds=1"]))
    assert one["dense-q@s8"] == ("encode-teacher-warmup", "student-q@s8", "split")
    assert one["student-q@s8"] == ("mine", "teacher-warmup", "encode-teacher-warmup")  # the index it searches


def test_adding_a_query_arm_leaves_every_other_stage_key_as_it_was(tmp_path):
    lead = {"name": "lead", "student_layers": [1, 2], "train": {}}
    before = {s.stage.name: s.key_hash for s in _study(_config(tmp_path, [lead])).pipeline.plan()}
    after = {s.stage.name: s.key_hash for s in _study(_config(
        tmp_path, [lead, {"name": "q", "student_layers": [1, 2], "train": QUERY}])).pipeline.plan()}
    assert set(after) - set(before) == {"student-q", "dense-q"}
    assert {n for n in before if before[n] != after[n]} == {"hybrid", "costs", "leaderboard"}


def test_the_tower_is_the_arms_to_set_and_a_warm_up_refuses_it(tmp_path):
    arms = [{"name": "q", "student_layers": [1, 2], "train": {}}]
    with pytest.raises(ConfigError, match=r"^teacher.train: student.tower is query, but a warm-up fine-tunes the "
                                          r"teacher whose index query students search; set teacher.train.student"
                                          r".tower: both"):
        _study(_config(tmp_path, arms), ["train.student.tower=query"])
    # set for the whole study, and back to `both` for the warm-up: every trained arm is a query student
    study = _study(_config(tmp_path, arms), ["train.student.tower=query", "teacher.train.student.tower=both"])
    assert study.query_teacher_row("q") == "teacher-warmup" and "encode-q" not in _deps(study)


@pytest.mark.parametrize(("arm_train", "message"), [
    ({"student": {"tower": "query"}, "teacher": {"mode": "joint"}},
     r"^arm 'q': student.tower=query needs teacher.mode=frozen"),
    ({"student": {"tower": "query"}, "teacher": {"cache": False}},
     r"^arm 'q': student.tower=query needs teacher.cache=true"),
])
def test_a_query_arm_the_trainer_would_refuse_fails_when_the_plan_is_made(tmp_path, arm_train, message):
    with pytest.raises(ConfigError, match=message):
        _study(_config(tmp_path, [{"name": "q", "student_layers": [1, 2], "train": arm_train}]))


def test_a_query_arm_of_a_teacher_without_an_index_is_one_line_at_plan_time(tmp_path):
    (tmp_path / "teacher").mkdir()
    steps = {"optim": {"max_steps": 3}}
    teachers = [{"name": "small", "model": str(tmp_path / "teacher"), "train": steps},
                {"name": "colbert", "model": str(tmp_path / "teacher"), "kind": "colbert", "train": steps}]
    path = _config(tmp_path, [{"name": "q", "student_layers": [1, 2], "teacher": "colbert-warmup", "train": QUERY}])
    data = yaml.safe_load(path.read_text())
    data.pop("teacher")
    data["teachers"] = teachers
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as err:
        _study(path)
    assert str(err.value) == ("arm 'q' is a query student (train.student.tower: query) of colbert-warmup, which has "
                              "no index (colbert teachers are not encoded); choose a dense teacher's row: "
                              "small-zero-shot, small-warmup")


def test_a_teacher_without_its_zero_shot_row_is_encoded_once_and_its_zero_shot_index_cannot_be_searched(tmp_path):
    path = _config(tmp_path, [{"name": "q", "student_layers": [1, 2], "train": QUERY}])
    study = _study(path, ["teacher.zero_shot_row=false"])
    deps = _deps(study)
    assert study.rows() == ["teacher-warmup", "q"]
    assert [s for s in deps if s.startswith(("encode-", "dense-teacher"))] == ["encode-teacher-warmup",
                                                                                "dense-teacher-warmup"]
    assert deps["costs"] == ("split", "encode-teacher-warmup", "student-q")
    with pytest.raises(ConfigError) as err:  # a query student of the row that is not there
        _study(_config(tmp_path, [{"name": "q0", "student_layers": [1], "teacher": "zero-shot", "train": QUERY}]),
               ["teacher.zero_shot_row=false"])
    assert str(err.value) == ("arm 'q0' is a query student (train.student.tower: query) of teacher-zero-shot, which "
                              "has no index (teacher.zero_shot_row is false); choose a dense teacher's row: "
                              "teacher-warmup")
    with pytest.raises(ConfigError, match="zero_shot_row and warmup are both false"):
        _study(path, ["teacher.zero_shot_row=false", "teacher.warmup=false"])


def test_a_query_arm_trains_against_its_teacher_row_even_without_a_distillation_term(tmp_path, monkeypatch):
    """Its passages are the teacher's cached vectors: the trainer gets the teacher's model (frozen, cached) when no
    distillation weight would ask for it, and the arm's own kept blocks of that teacher as its student."""
    from test_study_plan import finish_stages, recording_trainer

    import lead_ir.training.loop as loop
    from lead_ir.experiment.stages.train import train_row

    contrastive = {"student": {"tower": "query"}, "loss": {"weights": {"response": 0.0, "layer": 0.0}}}
    study = _study(_config(tmp_path, [{"name": "q", "student_layers": [1], "train": contrastive}]))
    finish_stages(study, {"split": {"dev_topics": "dev.tsv", "dev_qrels": "dev.qrels"},
                          "mine": {"train": "train.jsonl"}, "teacher-warmup": {"model": "model"},
                          "encode-teacher-warmup": {"index": "index"}})
    received = []
    trainer = recording_trainer(received)

    monkeypatch.setattr(loop, "train", trainer)
    train_row(study, tmp_path / "stage", study.cfg.arms[0], study.train_configs["q"], 7)
    (cfg,) = received
    assert cfg.student.tower == "query" and cfg.student.keep_layers == [1]
    assert cfg.teacher.path == str(study.out("teacher-warmup", "model")) == cfg.student.path
    assert (cfg.teacher.mode, cfg.teacher.cache, cfg.teacher.kind) == ("frozen", True, "dense")
    assert cfg.data.dev_index == str(study.out("encode-teacher-warmup", "index"))  # not the dev corpus re-encoded


# ---------------------------------------------------------------------------------------------- end to end
@pytest.mark.java
@pytest.mark.slow
def test_tiny_study_with_a_query_arm_runs_end_to_end(tmp_path):
    """A 2-layer 16-d query student (a 16->32 projection) of the 4-layer 32-d teacher's warm-up: its row is on the
    leaderboard, its runs searched the warm-up's index, its costs are its own model's with that index's size."""
    import numpy as np

    from lead_ir.cli import main
    from lead_ir.efficiency import index_size
    from lead_ir.encode import PassageLayers
    from lead_ir.models.encoder import DenseEncoder

    teacher = build_tiny_bert(tmp_path / "models" / "teacher", WORD_VOCAB, hidden=32, layers=4)
    student = build_tiny_bert(tmp_path / "models" / "student", WORD_VOCAB, hidden=16, layers=2, seed=1)
    config = _config(tmp_path, [{"name": "q", "student_model": str(student), "student_layers": [1, 2],
                                 "train": {"student": {"tower": "query"}, "loss": {"num_layer_pairs": 2},
                                           "optim": {"max_steps": 4}}}],
                     teacher=teacher, encode={"max_length": 16, "teacher_layers": True})
    assert main(["-q", "experiment", str(config)]) == 0

    stages, results = tmp_path / "exp" / "stages", tmp_path / "results"
    assert not (stages / "encode-q").exists() and (stages / "encode-teacher-warmup" / "index").is_dir()
    # the teacher's index kept every layer of its passages, and the student's teacher cache copied them
    encoded = json.loads((stages / "encode-teacher-warmup" / "manifest.json").read_text())
    assert encoded["outputs"]["passage_layers"] == "passage-layers"
    assert "passage_layers" not in json.loads((stages / "encode-teacher-zero-shot" / "manifest.json").read_text())[
        "outputs"]  # no query student searches the zero-shot index
    cache = next((tmp_path / "exp" / "teacher-cache").iterdir())
    copied = np.load(cache / "passages.npy")
    ids = (cache / "passage_ids.txt").read_text().split("\n")
    layers = PassageLayers(stages / "encode-teacher-warmup" / "passage-layers")
    kept = np.empty_like(copied)
    assert layers.rows(ids, kept) == [] and np.array_equal(copied, kept)
    board = (results / "leaderboard.md").read_text()
    assert "| q " in board and (results / "q.trec").is_file() and (results / "hybrid.trec").is_file()
    dense = json.loads((stages / "dense-q" / "manifest.json").read_text())
    assert dense["outputs"]["index_stage"] == "encode-teacher-warmup"
    assert set(dense["inputs"]) == {"encode-teacher-warmup", "student-q", "split"}
    hybrid = json.loads((results / "study.json").read_text())
    assert hybrid["hybrid"]["best_student"] == "q" and hybrid["query_students"] == {"q": "teacher-warmup"}
    assert hybrid["rows"] == ["bm25", "teacher-zero-shot", "teacher-warmup", "q", "hybrid"]
    assert (results / "logs" / "student-q.jsonl").is_file()

    costs = json.loads((results / "costs.json").read_text())
    model = DenseEncoder.from_pretrained(stages / "student-q" / "model")
    assert model.spec.tower == "query" and model.projection is not None
    assert costs["q"]["index_bytes"] == costs["teacher-warmup"]["index_bytes"] == index_size(
        stages / "encode-teacher-warmup" / "index")
    assert costs["q"]["docs_per_s"] == costs["teacher-warmup"]["docs_per_s"]
    assert (costs["q"]["layers"], costs["q"]["dim"]) == (2, 32)  # its own blocks, the teacher's width
    own = sum(p.numel() for p in model.parameters())
    assert costs["q"]["params"] == own == sum(p.numel() for p in model.model.parameters()) + 16 * 32 + 32
    assert costs["q"]["params"] < costs["teacher-warmup"]["params"] and costs["q"]["query_ms_p50"] > 0
    assert costs["_caption"].endswith("; a query student's index MB and docs/s are those of its teacher's index "
                                      "(q: teacher-warmup)")

    from lead_ir.experiment.results import StudyResults

    opened = StudyResults(results)
    assert "q" in opened.rows and opened.query_students == {"q": "teacher-warmup"}
    assert "q" in opened.costs_table().index and "student-q" in opened.logs()
