"""The stage runner on its own, without Java or models: done, todo, stale, forced and descendants."""

import pytest

from lead_ir.errors import LeadIRError
from lead_ir.experiment.runner import Pipeline, Stage


class Recorder:
    """Stages that write one file and record that they ran."""

    def __init__(self):
        self.ran: list[str] = []

    def stage(self, name, deps=(), key=None, resumable=False, fail=False):
        def run(out):
            self.ran.append(name)
            (out / "out.txt").write_text(name)
            if fail:
                raise RuntimeError(f"{name} failed")
            return {"file": "out.txt"}

        return Stage(name, run, deps=deps, key=key, resumable=resumable)


def chain(rec, keys=None):
    keys = keys or {}
    return [rec.stage("a", key=keys.get("a", 1)), rec.stage("b", deps=("a",), key=keys.get("b", 1)),
            rec.stage("c", deps=("b",), key=keys.get("c", 1)), rec.stage("d", deps=("a",), key=keys.get("d", 1))]


def states(pipeline, force=None):
    return {s.stage.name: s.state for s in pipeline.plan(force)}


def test_first_run_runs_everything_then_everything_is_done(tmp_path):
    rec = Recorder()
    pipeline = Pipeline(tmp_path, chain(rec))
    assert set(states(pipeline).values()) == {"todo"}
    manifests = pipeline.run()
    assert rec.ran == ["a", "b", "c", "d"]
    assert manifests["b"]["inputs"] == {"a": manifests["a"]["key_hash"]}
    assert (tmp_path / "stages" / "c" / "out.txt").read_text() == "c"
    assert set(states(pipeline).values()) == {"done"}
    rec.ran.clear()
    pipeline.run()
    assert rec.ran == []


def test_a_changed_key_makes_the_stage_and_only_its_descendants_stale(tmp_path):
    Pipeline(tmp_path, chain(Recorder())).run()
    rec = Recorder()
    pipeline = Pipeline(tmp_path, chain(rec, keys={"b": 2}))
    assert states(pipeline) == {"a": "done", "b": "stale", "c": "stale", "d": "done"}
    pipeline.run()
    assert rec.ran == ["b", "c"]


def test_force_redoes_matching_stages_and_their_descendants(tmp_path):
    Pipeline(tmp_path, chain(Recorder())).run()
    rec = Recorder()
    pipeline = Pipeline(tmp_path, chain(rec))
    assert states(pipeline, ["a"]) == {"a": "forced", "b": "forced", "c": "forced", "d": "forced"}
    assert states(pipeline, ["[cd]"]) == {"a": "done", "b": "done", "c": "forced", "d": "forced"}
    pipeline.run(["c"])
    assert rec.ran == ["c"]


def test_force_with_an_unknown_stage_is_one_clear_error(tmp_path):
    pipeline = Pipeline(tmp_path, chain(Recorder()))
    with pytest.raises(LeadIRError, match="no such stage"):
        pipeline.plan(["e*"])


def test_a_dependency_after_its_stage_is_refused(tmp_path):
    rec = Recorder()
    with pytest.raises(LeadIRError, match="do not come before it"):
        Pipeline(tmp_path, [rec.stage("b", deps=("a",)), rec.stage("a")])


def test_a_failed_stage_leaves_no_folder_and_no_manifest(tmp_path):
    rec = Recorder()
    pipeline = Pipeline(tmp_path, [rec.stage("a"), rec.stage("b", deps=("a",), fail=True)])
    with pytest.raises(RuntimeError):
        pipeline.run()
    assert not (tmp_path / "stages" / "b").exists()
    assert states(pipeline) == {"a": "done", "b": "todo"}


def test_a_resumable_stage_keeps_its_partial_folder(tmp_path):
    rec = Recorder()
    pipeline = Pipeline(tmp_path, [rec.stage("train", resumable=True, fail=True)])
    with pytest.raises(RuntimeError):
        pipeline.run()
    assert (tmp_path / "stages" / "train" / "out.txt").exists()  # checkpoints survive a crash
    assert states(pipeline) == {"train": "todo"}


def test_a_partial_folder_of_another_config_is_started_afresh_not_resumed(tmp_path):
    """A killed training stage resumes under the key it started with; once its config changed, the partial folder
    (checkpoints of the other config) is removed and the stage starts from scratch."""
    rec = Recorder()
    with pytest.raises(RuntimeError):
        Pipeline(tmp_path, [rec.stage("train", key=1, resumable=True, fail=True)]).run()
    assert states(Pipeline(tmp_path, [rec.stage("train", key=1, resumable=True)])) == {"train": "todo"}
    changed = Pipeline(tmp_path, [rec.stage("train", key=2, resumable=True)])
    assert states(changed) == {"train": "stale"}
    (tmp_path / "stages" / "train" / "checkpoint-of-key-1").write_text("")
    changed.run()
    assert not (tmp_path / "stages" / "train" / "checkpoint-of-key-1").exists()
    assert states(changed) == {"train": "done"}


def test_a_resumable_stage_refused_before_writing_leaves_no_folder(tmp_path):
    def refuse(out):
        raise LeadIRError("empty corpus")

    pipeline = Pipeline(tmp_path, [Stage("encode", refuse, resumable=True)])
    with pytest.raises(LeadIRError):
        pipeline.run()
    assert not (tmp_path / "stages" / "encode").exists()  # its folder exists once it holds something
