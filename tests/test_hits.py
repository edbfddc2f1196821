import gc
from dataclasses import dataclass

import numpy as np
import pytest

from lead_ir.hits import add_hits, gc_paused


@dataclass
class Hit:  # the two fields Pyserini's Lucene, FAISS and hybrid results share
    docid: str
    score: float


def test_gc_paused_restores_the_collector_even_on_error():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_gc_paused_leaves_a_disabled_collector_disabled():
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_add_hits_keeps_order_converts_scores_and_fills_missing_queries():
    run = {}
    add_hits({"q1": [Hit("d2", np.float32(2.5)), Hit("d1", np.float32(1.0))]}, run, ["q1", "q2"])
    assert run == {"q1": {"d2": 2.5, "d1": 1.0}, "q2": {}}
    assert list(run["q1"]) == ["d2", "d1"] and type(run["q1"]["d2"]) is float
    add_hits({"q3": [Hit("d9", 0.5)]}, run)
    assert run["q3"] == {"d9": 0.5}
