"""Typed configs: dataclasses loaded from YAML plus ``a.b=c`` overrides.

Stage modules define their own dataclasses (fields with ``metadata={"help": ...}``); this
module turns YAML mappings into them, checks every key and value, and saves the resolved
config beside the outputs.

Every numeric field declares the values it allows next to its default, ``number(2e-5, POSITIVE, "help")``
(a :class:`Bound` in the field's ``metadata["check"]``); :func:`from_dict` checks it for YAML values and
``key=value`` overrides alike, so a bad number is one line naming the key, the value and the allowed range.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

from lead_ir.errors import ConfigError, closest

C = TypeVar("C")


@dataclass(frozen=True)
class Bound:
    """The numbers a config field allows: ``low``/``high`` (open or closed; None: unbounded), and 0 besides when
    ``zero``. It holds for every number of the field's value: an ``int | None``'s number, each item of a list,
    each value of a mapping. Floats are always finite. The wording is the command line's
    (:mod:`lead_ir.cli.argtypes`)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    zero: bool = False

    def allows(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.zero and value == 0:
            return True
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def describe(self, integer: bool) -> str:
        """The allowed range in words: 'a positive integer (>= 1)', 'a finite number > 0', 'a number in [0, 1)'."""
        lo, hi = (f"{x:g}" if x is not None else "" for x in (self.low, self.high))
        noun = "an integer" if integer else "a number"
        if self.low is not None and self.high is not None:
            if self.low_open == self.high_open:
                text = f"{noun} {'strictly ' if self.low_open else ''}between {lo} and {hi}"
            else:
                text = f"{noun} in {'(' if self.low_open else '['}{lo}, {hi}{')' if self.high_open else ']'}"
        elif self.low is not None and integer:
            least = math.floor(self.low) + 1 if self.low_open else math.ceil(self.low)
            text = "a positive integer (>= 1)" if least == 1 else f"an integer >= {least}"
        elif self.low is not None:
            text = f"a finite number {'>' if self.low_open else '>='} {lo}"
        else:
            text = "an integer" if integer else "a finite number"
            text += f" {'<' if self.high_open else '<='} {hi}" if self.high is not None else ""
        return f"0 or {text}" if self.zero else text


POSITIVE = Bound(low=0, low_open=True)  # sizes, counts, steps, learning rates, temperatures
NON_NEGATIVE = Bound(low=0)  # seeds, thread counts (0: default), weights, "every N steps" (0: off)
UNIT = Bound(low=0, high=1)  # [0, 1]: shares such as warmup_ratio, BM25 b
PROBABILITY = Bound(low=0, high=1, low_open=True, high_open=True)  # (0, 1): significance levels, held-out shares
BELOW_ONE = Bound(low=0, high=1, high_open=True)  # [0, 1): an optional held-out share (0: none)
FINITE = Bound()  # any finite number (an integer for an int field)


def at_least(n: int, zero: bool = False) -> Bound:
    """Integers >= ``n`` (and 0 besides when ``zero``: a "0 means automatic" setting)."""
    return Bound(low=n, zero=zero)


def number(default: Any = dataclasses.MISSING, check: Bound | None = None, help: str = "", *,
           factory: Any = dataclasses.MISSING) -> Any:
    """A numeric dataclass field with its allowed values declared beside its default (``factory`` for a list or
    mapping): ``lr: float = number(2e-5, POSITIVE, "peak learning rate")``."""
    if not isinstance(check, Bound):
        raise TypeError("number() needs a Bound: POSITIVE, NON_NEGATIVE, UNIT, PROBABILITY, BELOW_ONE, FINITE, ...")
    metadata = {"check": check} | ({"help": help} if help else {})
    if factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _yaml_value(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError(f"{where}: {text!r} is not valid YAML ({problem})") from None
    except RecursionError:
        raise ConfigError(f"{where}: the value is nested too deeply to be a config value") from None


def _coerce(value: Any, tp: Any, where: str, check: Bound | None = None, nullable: bool = False) -> Any:
    """Check/convert ``value`` against the annotation ``tp`` (YAML values or override strings) and every number in
    it against the field's declared ``check``."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where, check, nullable or type(None) in args)
            except ConfigError as exc:  # a list's error comes from the list form (seeds: N or [s1, s2])
                shaped = isinstance(value, (list, tuple)) and get_origin(arg) in (list, tuple)
                errors.insert(0 if shaped else len(errors), str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is Literal:
        choices = get_args(tp)
        if value in choices:
            return value
        raise ConfigError(f"{where}: {value!r} is not one of {list(choices)}{closest(str(value), map(str, choices))}")
    if _is_dataclass_type(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, found {value!r}")
        return from_dict(tp, value, where)
    if origin in (list, tuple):
        if isinstance(value, str):
            value = _yaml_value(value, where) if value.strip().startswith("[") else [v for v in value.split(",") if v]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, found {value!r}")
        (arg,) = get_args(tp)[:1] or (Any,)
        return [_coerce(v, arg, f"{where}[{i}]", check) for i, v in enumerate(value)]
    if origin is dict:
        if isinstance(value, str):
            value = _yaml_value(value, where)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, found {value!r}")
        kt, vt = get_args(tp) or (Any, Any)
        return {_coerce(k, kt, where): _coerce(v, vt, f"{where}.{k}", check) for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{where}: expected true or false, found {value!r}")
    if tp in (int, float):
        return _number(value, tp, where, check, nullable)
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{where}: expected a string, found {value!r}")
        return "" if value is None else str(value)
    return value


def _number(value: Any, tp: type, where: str, check: Bound | None, nullable: bool) -> int | float:
    """``value`` as an int or finite float within ``check``; else one line naming the key, the value and the range."""
    if check is None:
        expected = tp.__name__
    else:
        expected = check.describe(tp is int) + (" or null" if nullable else "")
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected {'a number' if check is None else expected}, found {value!r}")
    try:
        out = tp(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{where}: expected {expected}, found {value!r}") from None
    if tp is float and not math.isfinite(out):
        raise ConfigError(f"{where}: expected {'a finite number' if check is None else expected}, found {value!r}")
    if tp is int and isinstance(value, float) and not value.is_integer():
        raise ConfigError(f"{where}: expected {'an integer' if check is None else expected}, found {value!r}")
    if check is not None and not check.allows(out):
        raise ConfigError(f"{where}: expected {expected}, found {value!r}")
    return out


def from_dict(cls: type[C], data: dict, where: str = "") -> C:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys with a suggestion."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        name = f"{where}.{key}" if where else str(key)
        if key not in fields:
            raise ConfigError(f"unknown config key '{name}'{closest(str(key), fields)}")
        kwargs[key] = _coerce(value, hints[key], name, fields[key].metadata.get("check"))
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"{where or cls.__name__}: {exc}") from None
    except ValueError as exc:  # __post_init__ validation
        raise ConfigError(f"{where + ': ' if where else ''}{exc}") from None


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``a.b=c`` overrides (values parsed as YAML) to a nested mapping, in place.

    A numeric part indexes a list: ``arms.2.train.optim.lr=1e-5``.
    """
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value (e.g. train.lr=2e-5)")
        key, raw = item.split("=", 1)
        if not key or any(not part for part in key.split(".")):
            raise ConfigError(f"override '{item}': empty key part in '{key}'; write it as section.key=value")
        value = _override_value(item, raw)
        node: Any = data
        parts = key.split(".")
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"override '{item}': '{part}' is not an index of a list of {len(node)}")
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    if node.get(part) is None:
                        node[part] = {}
                    node = node[part]
            else:
                raise ConfigError(f"override '{item}': '{parts[depth - 1]}' is not a section")
    return data


def _override_value(item: str, raw: str) -> Any:
    """The value of a ``key=value`` override parsed as YAML (``yaml.safe_load``), with a one-line error."""
    if raw == "":
        return ""
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError(f"override '{item}': the value is not valid YAML ({problem}); quote it, e.g. "
                          f"key='\"text\"'") from None
    except RecursionError:
        raise ConfigError(f"override '{item}': the value is nested too deeply to be a config value") from None


def load_yaml(path: str | Path) -> dict:
    """A YAML config file as a mapping (:func:`lead_ir.fileio.read_yaml`: ``safe_load``, one-line errors)."""
    from lead_ir.errors import LeadIRError
    from lead_ir.fileio import read_yaml

    try:
        return read_yaml(path, what="config file", fix="fix the file", name_it=False)
    except ConfigError:
        raise
    except LeadIRError as exc:  # the config's own error class, with read_yaml's message
        raise ConfigError(str(exc)) from None


def load_config(cls: type[C], path: str | Path | None = None, overrides: list[str] | None = None) -> C:
    """Load ``cls`` from a YAML file (optional) and ``key=value`` overrides."""
    data = load_yaml(path) if path else {}
    apply_overrides(data, list(overrides or []))
    return from_dict(cls, data)


_SAME = object()


def _changed(value: Any, default: Any) -> Any:
    if dataclasses.is_dataclass(value) and type(value) is type(default):
        out = {}
        for f in dataclasses.fields(value):
            diff = _changed(getattr(value, f.name), getattr(default, f.name))
            if diff is not _SAME:
                out[f.name] = diff
        return out or _SAME
    if value == default:
        return _SAME
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


def changed_fields(cfg: Any) -> dict:
    """A typed config as the nested mapping of its values that differ from its class's defaults.

    The canonical form stage keys hash: spelling a default out in YAML, or an option added to the class later
    and left at its default, gives the same mapping, so neither marks a finished stage stale."""
    diff = _changed(cfg, type(cfg)())
    return {} if diff is _SAME else diff


def config_hash(cfg: Any) -> str:
    """A stable short hash of a resolved config (for manifests and caches)."""
    blob = json.dumps(to_dict(cfg) if dataclasses.is_dataclass(cfg) else cfg, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def save_config(cfg: Any, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically."""
    from lead_ir.fileio import atomic_open

    with atomic_open(path) as fh:
        yaml.safe_dump(to_dict(cfg), fh, sort_keys=False)
