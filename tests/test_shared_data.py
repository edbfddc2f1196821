"""The readers on the real files in ../shared/data, with the expected counts."""

import pytest

from lead_ir.data.collections import iter_corpus, read_qrels, read_topics


def n_judgments(qrels):
    return sum(len(docs) for docs in qrels.values())


@pytest.mark.parametrize("topics, qrels, n_topics, n_qrels", [
    ("topics.msmarco-passage.dev-subset.txt", "qrels.msmarco-passage.dev-subset.txt", 6980, 7437),
    ("topics.dl19-passage.txt", "qrels.dl19-passage.txt", 43, 9260),
    ("topics.dl20.txt", "qrels.dl20-passage.txt", 200, 11386),
])
def test_topics_and_qrels_files(topics_dir, topics, qrels, n_topics, n_qrels):
    assert len(read_topics(str(topics_dir / topics))) == n_topics
    assert n_judgments(read_qrels(str(topics_dir / qrels))) == n_qrels


@pytest.mark.parametrize("name, n_topics, n_qrels", [
    ("msmarco-passage-dev-subset", 6980, 7437), ("dl19-passage", 43, 9260), ("dl20-passage", 200, 11386),
    ("scifact-test", 300, 339), ("scifact-train", 809, 919), ("cranfield", 225, 1837),
])
def test_registry_names(topics_dir, irds_home, name, n_topics, n_qrels):
    assert len(read_topics(name)) == n_topics
    assert n_judgments(read_qrels(name)) == n_qrels


def test_dl20_has_54_judged_topics(topics_dir):
    assert len(read_qrels("dl20-passage")) == 54


@pytest.mark.parametrize("spec, count, non_empty, first_id", [
    ("irds:beir/scifact/test", 5183, 5183, "4983"), ("irds:cranfield", 1400, 1398, "1")])
def test_irds_corpora(irds_home, spec, count, non_empty, first_id):
    """Cranfield has two empty documents: skipped (with a warning) unless asked to keep them."""
    assert len(list(iter_corpus(spec, skip_empty=False))) == count
    docs = list(iter_corpus(spec))
    assert len(docs) == non_empty
    assert docs[0].doc_id == first_id and all(d.text.strip() for d in docs)
