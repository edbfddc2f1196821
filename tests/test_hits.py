import gc
from dataclasses import dataclass

import numpy as np
import pytest

from lead_ir.hits import batched_search, gc_paused


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


def test_batched_search_keeps_order_converts_scores_and_fills_missing_queries():
    results = {"q1": [Hit("d2", np.float32(2.5)), Hit("d1", np.float32(1.0))], "q3": [Hit("d9", 0.5)]}
    calls = []

    def search(texts, qids):  # a Pyserini batch_search: nothing for q2
        calls.append((list(texts), list(qids)))
        return {q: results[q] for q in qids if q in results}

    run = batched_search(search, {"q1": "a", "q2": "b", "q3": "c"}, batch_size=2, desc="test")
    assert calls == [(["a", "b"], ["q1", "q2"]), (["c"], ["q3"])]
    assert run == {"q1": {"d2": 2.5, "d1": 1.0}, "q2": {}, "q3": {"d9": 0.5}}
    assert list(run["q1"]) == ["d2", "d1"] and type(run["q1"]["d2"]) is float


def test_batched_search_pauses_the_collector_only_inside_pyserini_calls():
    seen = []
    batched_search(lambda texts, qids: seen.append(gc.isenabled()) or {}, {"q1": "a", "q2": "b"}, 1, "test")
    assert seen == [False, False] and gc.isenabled()
