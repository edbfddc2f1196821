"""Studies with several teachers: named zero-shot/warm-up rows, ColBERT teachers, warm-up stages as backbones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lead_ir.errors import ConfigError, LeadIRError


def _config(tmp_path: Path, teachers: list[dict] | None, arms: list[dict], **extra) -> Path:
    """The tiny study of tests/test_experiment.py with ``teachers`` (None: its single ``teacher``) and ``arms``."""
    from test_experiment import write_config

    for name in ("teacher", "teacher2"):
        (tmp_path / name).mkdir(exist_ok=True)  # planning reads no model
    path = write_config(tmp_path, tmp_path / "teacher")
    data = yaml.safe_load(path.read_text())
    if teachers is not None:
        data.pop("teacher")
        data["teachers"] = teachers
    data["arms"] = arms
    data.update(extra)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _plan(config: Path, overrides: list[str] | None = None) -> dict[str, tuple[str, tuple[str, ...], object]]:
    """stage name -> (key hash, deps, key)."""
    from lead_ir.experiment.study import Study, load_experiment

    study = Study(load_experiment(config, overrides))
    return {s.stage.name: (s.key_hash, s.stage.deps, s.stage.key) for s in study.pipeline.plan()}


def _teachers(tmp_path: Path) -> list[dict]:
    steps = {"optim": {"max_steps": 3}}
    return [{"name": "small", "model": str(tmp_path / "teacher"), "train": steps},
            {"name": "big", "model": str(tmp_path / "teacher2"), "train": steps},
            {"name": "colbert", "model": str(tmp_path / "teacher"), "kind": "colbert", "train": steps, "seeds": 1}]


ARMS = [
    {"name": "six", "student_layers": [], "teacher": "big-warmup", "train": {}},  # the arm's teacher's checkpoint
    {"name": "contrastive", "student_model": "small-warmup", "student_layers": [1, 2], "teacher": "small-zero-shot",
     "train": {"loss": {"weights": {"response": 0.0, "layer": 0.0}}}},
    {"name": "three", "student_model": "small-warmup", "student_layers": [1, 2], "teacher": "small-warmup",
     "train": {}},
    {"name": "three-big", "student_model": "small-warmup", "student_layers": [1, 2], "teacher": "big-warmup",
     "train": {}},
    {"name": "three-colbert", "student_model": "small-warmup", "student_layers": [1, 2], "teacher": "colbert-warmup",
     "train": {}, "seeds": 1},
]


def test_two_dense_teachers_and_a_colbert_teacher_plan_their_rows_stages_and_dependencies(tmp_path):
    config = _config(tmp_path, _teachers(tmp_path), ARMS, seeds=[7, 8],
                     evaluation={"baselines": ["bm25", "big-warmup"], "comparisons": [["three", "contrastive"]]})
    plan = _plan(config)
    warmups = [n for n in plan if n.endswith(("-warmup", "-warmup@s8")) and not n.startswith(("encode", "dense"))]
    assert warmups == ["small-warmup", "small-warmup@s8", "big-warmup", "big-warmup@s8", "colbert-warmup"]
    # dense teachers get zero-shot and warm-up rows; the ColBERT teacher is trained and distilled from, not indexed
    for row in ("small-zero-shot", "small-warmup", "small-warmup@s8", "big-zero-shot", "big-warmup", "six@s8",
                "three-colbert"):
        assert f"encode-{row}" in plan and f"dense-{row}" in plan, row
    assert not [n for n in plan if n.startswith(("encode-colbert", "dense-colbert", "encode-three-colbert@"))]
    assert plan["colbert-warmup"][2]["kind"] == "colbert" and "kind" not in plan["big-warmup"][2]
    assert plan["encode-big-zero-shot"][2]["model"] == str(tmp_path / "teacher2")

    deps = {name: plan[name][1] for name in plan}
    assert deps["student-six@s8"] == ("mine", "big-warmup@s8")  # its teacher's checkpoint is its backbone
    assert deps["student-contrastive"] == ("mine", "small-warmup")  # backbone only: the zero-shot teacher is a model
    assert deps["student-three@s8"] == ("mine", "small-warmup@s8")  # teacher and backbone are one stage
    assert deps["student-three-big@s8"] == ("mine", "big-warmup@s8", "small-warmup@s8")
    assert deps["student-three-colbert"] == ("mine", "colbert-warmup", "small-warmup")
    assert plan["student-three-colbert"][2]["teacher_kind"] == "colbert"
    assert plan["student-three-big"][2]["teacher"] == str(tmp_path / "teacher2")
    assert "dense-big-zero-shot" in deps["leaderboard"] and "dense-three-colbert" in deps["hybrid"]


def test_arm_reads_its_teacher_and_backbone_from_the_warm_up_manifests(tmp_path):
    from lead_ir.experiment.study import Study, load_experiment
    from lead_ir.fileio import write_json

    study = Study(load_experiment(_config(tmp_path, _teachers(tmp_path), ARMS)))
    arm = next(a for a in study.cfg.arms if a.name == "three-colbert")
    assert study.arm_stages(arm, 7) == ("colbert-warmup", "small-warmup")
    study.out("small-warmup").mkdir(parents=True)
    write_json(study.out("small-warmup", "manifest.json"), {"outputs": {"model": "kept/model"}})
    assert study.model_dir("small-warmup") == study.out("small-warmup", "kept/model")  # not a literal path
    assert study.row_model("small-zero-shot", 7) == tmp_path / "teacher"
    assert study.row_model("big-zero-shot", 7) == tmp_path / "teacher2"
    with pytest.raises(LeadIRError, match=r"stage colbert-warmup has no finished output 'model' .*"
                                          r"--force colbert-warmup$"):
        study.model_dir("colbert-warmup")


def test_single_teacher_is_the_one_item_case_with_the_same_stage_names_and_keys(tmp_path):
    from test_experiment import write_config
    from test_seeds import LEGACY

    (tmp_path / "teacher").mkdir()
    legacy = _plan(write_config(tmp_path, tmp_path / "teacher"))
    assert list(legacy) == LEGACY
    data = yaml.safe_load((tmp_path / "tiny.yaml").read_text())
    data["teachers"] = [{"name": "teacher"} | data.pop("teacher")]
    (tmp_path / "listed.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    listed = _plan(tmp_path / "listed.yaml")  # arms still say warmup / zero-shot: valid with one teacher
    assert {n: v[:2] for n, v in listed.items()} == {n: v[:2] for n, v in legacy.items()}


@pytest.mark.parametrize(("teachers", "arm", "extra", "message"), [
    (True, {"name": "x", "teacher": "bgi-warmup"}, {},
     r"arm 'x': teacher 'bgi-warmup' is not a teacher row of this study \(did you mean 'big-warmup'\?\); choose one "
     r"of small-zero-shot, small-warmup, big-zero-shot, big-warmup, colbert-zero-shot, colbert-warmup"),
    (True, {"name": "x"}, {}, r"arm 'x': teacher 'warmup' is not a teacher row of this study"),
    (True, {"name": "x", "teacher": "big-warmup", "student_model": "smal-warmup"}, {},
     r"arm 'x': student_model 'smal-warmup' is not a trained stage \(did you mean 'small-warmup'\?\); a backbone row "
     r"is a teacher's warm-up \(small-warmup, big-warmup, colbert-warmup\)"),
    (True, {"name": "x", "teacher": "big-warmup", "student_model": "big-zero-shot"}, {},
     r"student_model 'big-zero-shot' is not a trained stage"),
    (None, {"name": "x", "student_model": "warmup"}, {}, r"student_model 'warmup' is not a trained stage.*"
                                                        r"\(teacher-warmup\)"),
    (True, {"name": "x", "teacher": "big-warmup"}, {"teacher": {"model": "other"}},
     r"set either `teacher` \(one teacher\) or `teachers`"),
])
def test_bad_teacher_or_backbone_names_fail_in_one_line(tmp_path, teachers, arm, extra, message):
    config = _config(tmp_path, _teachers(tmp_path) if teachers else None, [arm], **extra)
    with pytest.raises(ConfigError, match=message) as caught:
        _plan(config, ["evaluation.baselines=[bm25]", "hybrid.enabled=false"])
    assert "\n" not in str(caught.value)


def test_bad_teacher_lists_fail_in_one_line(tmp_path):
    teachers = _teachers(tmp_path)
    cases = [([teachers[0], teachers[0]], r"teacher names must be unique, found \['small', 'small'\]"),
             ([teachers[0] | {"name": "student"}], r"teachers\[0\]: name 'student' must be a non-empty word"),
             ([teachers[0] | {"warmup": False}], r"arm 'x' distils from small-warmup but teachers\[0\]\.warmup is "
                                                 r"false; set it true or use small-zero-shot")]
    for listed, message in cases:
        config = _config(tmp_path, listed, [{"name": "x", "teacher": "small-warmup"}])
        with pytest.raises(ConfigError, match=message):
            _plan(config, ["evaluation.baselines=[bm25]"])


# ------------------------------------------------------------------ a real two-teacher tiny study
@pytest.mark.java
@pytest.mark.slow
def test_tiny_study_with_a_dense_and_a_colbert_teacher_and_a_warm_up_backbone(tmp_path):
    from fixtures_models import WORD_VOCAB, build_tiny_bert

    from lead_ir.experiment.study import load_experiment, run_experiment

    bert = build_tiny_bert(tmp_path / "bert", WORD_VOCAB, hidden=32, layers=4)
    steps = {"optim": {"max_steps": 2}}
    teachers = [{"name": "bi", "model": str(bert), "train": steps},
                {"name": "colbert", "model": str(bert), "kind": "colbert", "train": steps}]
    arms = [{"name": "lead", "student_model": "bi-warmup", "student_layers": [1, 2], "teacher": "colbert-warmup",
             "train": {"optim": {"max_steps": 2}, "loss": {"num_layer_pairs": 2}}}]
    config = _config(tmp_path, teachers, arms, encode={"batch_size": 40, "max_length": 24},
                     hybrid={"method": "rrf"},  # wsum: 30 s of JIT
                     evaluation={"metrics": ["ndcg@10"], "baselines": ["bm25"], "run_depth": 20})
    run_experiment(load_experiment(config))
    results = tmp_path / "results"
    study = json.loads((results / "study.json").read_text())
    assert study["rows"] == ["bm25", "bi-zero-shot", "bi-warmup", "lead", "hybrid"]
    stages = tmp_path / "exp" / "stages"
    assert (stages / "colbert-warmup" / "model" / "lead_ir_colbert.json").exists()  # warmed up as a ColBERT model
    caches = [json.loads(m.read_text()) for m in (tmp_path / "exp" / "teacher-cache").glob("*/manifest.json")]
    assert [c["kind"] for c in caches] == ["colbert"]  # the arm distilled from the ColBERT warm-up
    lead = json.loads((stages / "student-lead" / "manifest.json").read_text())
    assert set(lead["inputs"]) == {"mine", "colbert-warmup", "bi-warmup"}
    costs = json.loads((results / "costs.json").read_text())
    assert costs["lead"]["layers"] == 2 and costs["bi-warmup"]["layers"] == 4
    for name in ("bi-warmup", "student-lead"):
        assert (results / "logs" / f"{name}.jsonl").exists(), name
    assert (results / "logs" / "colbert-warmup.jsonl").exists()
