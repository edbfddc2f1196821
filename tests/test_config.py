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
