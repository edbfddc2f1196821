"""Typed YAML configs with overrides and helpful errors."""

from dataclasses import dataclass, field
from typing import Literal

import pytest

from lead_ir.config import load_config
from lead_ir.errors import ConfigError


@dataclass
class Optim:
    lr: float = 2e-5
    warmup: float = 0.1


@dataclass
class Demo:
    name: str = "x"
    pooling: Literal["cls", "mean"] = "cls"
    layers: list[int] = field(default_factory=lambda: [1, 2])
    optim: Optim = field(default_factory=Optim)
    limit: int | None = None


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: run1\noptim:\n  lr: 1e-4\n")
    cfg = load_config(Demo, path, ["optim.warmup=0.2", "layers=[1,3,5]", "pooling=mean", "limit=7"])
    assert cfg == Demo(name="run1", pooling="mean", layers=[1, 3, 5], optim=Optim(lr=1e-4, warmup=0.2), limit=7)


@pytest.mark.parametrize("override, message", [
    ("optim.lrr=1", r"unknown config key 'optim.lrr' \(did you mean 'lr'\?\)"),
    ("pooling=max", r"pooling: 'max' is not one of \['cls', 'mean'\]"),
    ("optim.lr=fast", r"optim.lr: expected float, found 'fast'"),
    ("name", r"not of the form key=value"),
])
def test_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(Demo, None, [override])


def test_changed_fields_keeps_only_values_that_differ_from_the_defaults():
    from lead_ir.config import changed_fields

    assert changed_fields(Demo()) == {}
    spelled = load_config(Demo, None, ["name=x", "optim.lr=2.0e-5", "layers=[1, 2]", "limit=null"])
    assert changed_fields(spelled) == {}  # defaults written out
    cfg = load_config(Demo, None, ["optim.warmup=0.2", "layers=[1,3]", "limit=7"])
    assert changed_fields(cfg) == {"layers": [1, 3], "optim": {"warmup": 0.2}, "limit": 7}
    assert changed_fields(load_config(Demo, None, ["optim.lr=1"])) == {"optim": {"lr": 1.0}}  # typed: 1 is 1.0


# ------------------------------------------------------------------ declared ranges of numeric fields
def _numeric(tp) -> bool:
    """Whether an annotation holds a number anywhere (int, float | None, list[int], dict[str, float], ...)."""
    from typing import get_args

    return tp in (int, float) or any(_numeric(arg) for arg in get_args(tp) if arg is not Ellipsis)


def _nested_dataclasses(tp) -> list[type]:
    import dataclasses
    from typing import get_args

    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return [tp]
    return [cls for arg in get_args(tp) for cls in _nested_dataclasses(arg)]


def _config_fields(cls: type, where: str = "", seen: set | None = None):
    """(dotted key, field, annotation) of every field of ``cls`` and of every dataclass reachable through its fields
    (sections, lists of sections, optional sections)."""
    import dataclasses
    import typing

    seen = set() if seen is None else seen
    if cls in seen:
        return
    seen.add(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{where}{f.name}"
        yield key, f, hints[f.name]
        for nested in _nested_dataclasses(hints[f.name]):
            yield from _config_fields(nested, f"{key}.", seen)


def _unchecked(cls: type) -> list[str]:
    """Keys of numeric fields that declare no range (``number(default, RULE, help)``), and of fields that declare one
    without holding a number."""
    from lead_ir.config import Bound

    return [key for key, f, tp in _config_fields(cls) if _numeric(tp) != isinstance(f.metadata.get("check"), Bound)]


def _numbers(value):
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return []
    if isinstance(value, (int, float)):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    return [n for item in value for n in _numbers(item)]


TOP_LEVEL = ["lead_ir.training.config:TrainConfig", "lead_ir.experiment.config:ExperimentConfig"]


def _top(spec: str) -> type:
    import importlib

    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("spec", TOP_LEVEL)
def test_every_numeric_config_field_declares_its_range(spec):
    """Every field (of every section, recursively) holding a number declares the range the loader checks, and its
    default lies in it: a numeric field added later without one fails here."""
    import dataclasses

    cls = _top(spec)
    assert _unchecked(cls) == []
    fields = list(_config_fields(cls))
    numeric = [key for key, _, tp in fields if _numeric(tp)]
    assert len(numeric) >= 20  # the walk reached the sections
    for key, f, _ in fields:
        if "check" in f.metadata:
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            assert all(f.metadata["check"].allows(n) for n in _numbers(default)), (key, default)


def test_the_walk_finds_a_numeric_field_without_a_range():
    @dataclass
    class Section:
        depth: int = 10  # no declared range
        layers: list[int] = field(default_factory=list)
        name: str = "x"
        on: bool = True

    @dataclass
    class Top:
        sections: list[Section] = field(default_factory=list)
        maybe: Section | None = None

    assert _unchecked(Top) == ["sections.depth", "sections.layers"]
    assert {"run.threads", "optim.lr", "optim.max_steps", "loss.weights", "teacher.query_max_len"} <= {
        key for key, _, _ in _config_fields(_top(TOP_LEVEL[0]))}
    assert {"arms.seeds", "teacher.seeds", "bm25.threads", "evaluation.alpha", "mining.unlabeled.depth"} <= {
        key for key, _, _ in _config_fields(_top(TOP_LEVEL[1]))}


@pytest.mark.parametrize("override, message", [
    ("run.threads=-1", "run.threads: expected an integer >= 0, found -1"),
    ("optim.lr=nan", "optim.lr: expected a finite number > 0, found 'nan'"),
    ("optim.lr=.inf", "optim.lr: expected a finite number > 0, found inf"),
    ("optim.lr=fast", "optim.lr: expected a finite number > 0, found 'fast'"),
    ("optim.max_steps=0", "optim.max_steps: expected a positive integer (>= 1) or null, found 0"),
    ("optim.epochs=2.5", "optim.epochs: expected a positive integer (>= 1), found 2.5"),
    ("optim.warmup_ratio=1.5", "optim.warmup_ratio: expected a number between 0 and 1, found 1.5"),
    ("data.dev_fraction=1", "data.dev_fraction: expected a number in [0, 1), found 1"),
    ("loss.weights.layer=-1", "loss.weights.layer: expected a finite number >= 0, found -1"),
    ("loss.layer_map=[[2, 0]]", "loss.layer_map[0][1]: expected a positive integer (>= 1), found 0"),
    ("student.query_max_len=2", "student.query_max_len: expected 0 or an integer >= 4, found 2"),
    ("run.seed=true", "run.seed: expected an integer >= 0, found True"),
])
def test_numbers_out_of_range_name_the_key_the_value_and_the_range(override, message):
    from lead_ir.training.config import TrainConfig

    with pytest.raises(ConfigError) as err:
        load_config(TrainConfig, None, [override])
    assert str(err.value) == message


@pytest.mark.parametrize("override, message", [
    ("teacher.seeds=-1", "teacher.seeds: expected an integer >= 0 or null, found -1"),
    ("teacher.seeds=[3, -1]", "teacher.seeds[1]: expected an integer >= 0, found -1"),
    ("evaluation.alpha=1", "evaluation.alpha: expected a number strictly between 0 and 1, found 1"),
    ("bm25.b=1.5", "bm25.b: expected a number between 0 and 1, found 1.5"),
    ("encode.max_length=0", "encode.max_length: expected a positive integer (>= 1) or null, found 0"),
    ("arms=[{name: a, student_layers: [0]}]", "arms[0].student_layers[0]: expected a positive integer (>= 1), "
                                              "found 0"),
])
def test_experiment_numbers_are_checked_when_the_config_loads(override, message):
    from lead_ir.experiment.config import ExperimentConfig

    with pytest.raises(ConfigError) as err:
        load_config(ExperimentConfig, None, [override])
    assert str(err.value) == message


def test_a_null_max_steps_trains_epochs_and_the_configs_shipped_still_load(monkeypatch):
    """The shipped configs keep within the declared ranges: training configs load, and so does each study with the
    TrainConfig of every training row (planned as `lead-ir experiment --dry-run` does; their data need not exist)."""
    import dataclasses
    from pathlib import Path

    import lead_ir
    import lead_ir.experiment.config as experiment_config
    from lead_ir.config import load_yaml
    from lead_ir.experiment.config import ExperimentConfig
    from lead_ir.experiment.study import Study
    from lead_ir.training.config import TrainConfig

    assert load_config(TrainConfig, None, ["optim.max_steps=null"]).optim.max_steps is None
    root = Path(lead_ir.__file__).parent
    train_keys = {f.name for f in dataclasses.fields(TrainConfig)}
    paths = sorted((root.parent / "configs").glob("*.yaml")) + [root / "resources" / "quickstart.yaml"]
    kinds = []
    monkeypatch.setattr(experiment_config, "validate_plan", lambda cfg: None)  # input paths, model folders
    for path in paths:
        if set(load_yaml(path)) <= train_keys:
            load_config(TrainConfig, path)
            kinds.append("train")
        else:
            Study(load_config(ExperimentConfig, path))  # plans every training row; runs and writes nothing
            kinds.append("experiment")
    assert {"train", "experiment"} <= set(kinds)


# The acceptance cases (issue 23): one `lead-ir: error:` line naming key, value and range; exit 2; nothing written.
BAD_TRAIN = [  # (override, the same as YAML, the message's tail)
    ("run.threads=-1", {"run": {"threads": -1}}, r"run\.threads: expected an integer >= 0, found -1$"),
    ("optim.lr=nan", {"optim": {"lr": float("nan")}}, r"optim\.lr: expected a finite number > 0, found '?nan'?$"),
    ("optim.max_steps=0", {"optim": {"max_steps": 0}},
     r"optim\.max_steps: expected a positive integer \(>= 1\) or null, found 0$"),
    ("loss.weights.layer=-1", {"loss": {"weights": {"student": 1.0, "layer": -1.0}}},
     r"loss\.weights\.layer: expected a finite number >= 0, found -1(\.0)?$"),
]


def _one_error_line(capsys, args: list[str], pattern: str) -> str:
    import re

    from lead_ir.cli import main

    assert main(["-q", *args]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("lead-ir: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


@pytest.mark.parametrize("form", ["yaml", "override"])
@pytest.mark.parametrize("override, as_yaml, pattern", BAD_TRAIN, ids=[case[0] for case in BAD_TRAIN])
def test_train_refuses_a_bad_number_before_writing_anything(tmp_path, capsys, form, override, as_yaml, pattern):
    import yaml

    out = tmp_path / "out"
    base = {"run": {"output_dir": str(out)}}
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump(_merge(base, as_yaml) if form == "yaml" else base))
    before = sorted(tmp_path.rglob("*"))
    line = _one_error_line(capsys, ["train", "--config", str(config)] + ([override] if form == "override" else []),
                           pattern)
    assert line.startswith(f"lead-ir: error: {override.split('=')[0]}: ")
    assert not out.exists() and sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("form", ["yaml", "override"])
@pytest.mark.parametrize("override, as_yaml, pattern", BAD_TRAIN + [
    ("bm25.threads=-1", {"bm25": {"threads": -1}}, r"bm25\.threads: expected an integer >= 0, found -1$")],
    ids=[case[0] for case in BAD_TRAIN] + ["bm25.threads=-1"])
def test_experiment_refuses_a_bad_number_before_writing_anything(tmp_path, capsys, monkeypatch, form, override,
                                                                 as_yaml, pattern):
    """The training settings of a study (``train.*``) and its own sections: the study never starts."""
    import yaml
    from test_experiment import write_config

    import lead_ir.experiment.study as study

    def started(*args, **kwargs):
        raise AssertionError("the study started despite a bad number")

    monkeypatch.setattr(study, "_join_torchrun", started)
    teacher = tmp_path / "teacher"
    teacher.mkdir()  # planning reads no model
    path = write_config(tmp_path, teacher)
    key = override if override.startswith("bm25.") else f"train.{override}"
    extra = as_yaml if override.startswith("bm25.") else {"train": as_yaml}
    if form == "yaml":
        path.write_text(yaml.safe_dump(_merge(yaml.safe_load(path.read_text()), extra)))
    before = sorted(tmp_path.rglob("*"))
    _one_error_line(capsys, ["experiment", str(path)] + ([key] if form == "override" else []), pattern)
    assert not (tmp_path / "exp").exists() and not (tmp_path / "results").exists()
    assert sorted(tmp_path.rglob("*")) == before
