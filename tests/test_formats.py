"""Corpus, topics and qrels readers on small files written in-test."""

import gzip
import json

import pytest

from lead_ir.data.collections import iter_corpus, read_qrels, read_topics
from lead_ir.errors import InputFormatError, LeadIRError


def docs(spec):
    return [(d.doc_id, d.text) for d in iter_corpus(str(spec))]


def test_jsonl_id_variants_and_title_join(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps(o) for o in [
        {"id": "a", "contents": "alpha text"},
        {"_id": "b", "title": "Beta", "text": "body"},
        {"docid": "c", "title": "", "text": "only text"},
        {"doc_id": 7, "title": "Only title"},
    ]) + "\n")
    assert docs(path) == [("a", "alpha text"), ("b", "Beta body"), ("c", "only text"), ("7", "Only title")]


def test_msmarco_tsv_and_gzip(tmp_path):
    path = tmp_path / "collection.tsv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("0\tThe presence of communication\n1\tManhattan project\n")
    assert docs(path) == [("0", "The presence of communication"), ("1", "Manhattan project")]


def test_trec_sgml(tmp_path):
    path = tmp_path / "docs.trec"
    path.write_text("<DOC>\n<DOCNO> FT911-1 </DOCNO>\n<HEADLINE>Big news</HEADLINE>\n"
                    "<TEXT>\nsome text\n</TEXT>\n</DOC>\n"
                    "<DOC>\n<DOCNO>FT911-2</DOCNO>\n<TEXT>other</TEXT>\n</DOC>\n")
    assert docs(path) == [("FT911-1", "Big news some text"), ("FT911-2", "other")]


def test_directory_reads_every_file(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"id": "1", "contents": "x"}) + "\n")
    (tmp_path / "b.jsonl").write_text(json.dumps({"id": "2", "contents": "y"}) + "\n")
    assert docs(tmp_path) == [("1", "x"), ("2", "y")]


@pytest.mark.parametrize("content, message", [
    ('{"id": "a", "contents": "x"}\n{"id": "b", "contents": \n', r"c\.jsonl:2: not valid JSON"),
    ('{"contents": "x"}\n', r"c\.jsonl:1: no document id"),
    ('{"id": "a"}\n', r"c\.jsonl:1: no document text"),
    ('{"id": "a", "contents": "x"}\n{"id": "a", "contents": "y"}\n', r"c\.jsonl:2: duplicate document id 'a'"),
])
def test_corpus_errors_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "c.jsonl"
    path.write_text(content)
    with pytest.raises(InputFormatError, match=message):
        docs(path)


def test_empty_documents_are_skipped_with_warning(tmp_path, caplog):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"id": "a", "contents": ""}) + "\n" + json.dumps({"id": "b", "contents": "x"}) + "\n")
    assert docs(path) == [("b", "x")]
    assert "1 empty document" in caplog.text


def test_topics_formats(tmp_path):
    tsv = tmp_path / "t.tsv"
    tsv.write_text("1\tfirst query\n2\tsecond\n")
    trec = tmp_path / "t.trec"
    trec.write_text("<top>\n<num> Number: 301\n<title> International Organized Crime\n<desc> Description:\nx\n</top>\n"
                    "<top>\n<num> Number: 302 </num>\n<title> Poliomyelitis </title>\n</top>\n")
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text(json.dumps({"_id": "q1", "text": "hello"}) + "\n")
    assert read_topics(str(tsv)) == {"1": "first query", "2": "second"}
    assert read_topics(str(trec)) == {"301": "International Organized Crime", "302": "Poliomyelitis"}
    assert read_topics(str(jsonl)) == {"q1": "hello"}


def test_qrels_trec_and_beir(tmp_path):
    trec = tmp_path / "q.txt"
    trec.write_text("1 0 d1 1\n1 0 d2 0\n2 Q0 d3 2\n")
    beir = tmp_path / "q.tsv"
    beir.write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n2\td3\t2\n")
    assert read_qrels(str(trec)) == {"1": {"d1": 1, "d2": 0}, "2": {"d3": 2}}
    assert read_qrels(str(beir)) == {"1": {"d1": 1}, "2": {"d3": 2}}


def test_qrels_bad_relevance(tmp_path):
    path = tmp_path / "q.txt"
    path.write_text("1 0 d1 1\n1 0 d2 high\n")
    with pytest.raises(InputFormatError, match=r"q\.txt:2: relevance 'high' is not an integer"):
        read_qrels(str(path))


def test_unknown_registry_name_suggests():
    with pytest.raises(LeadIRError, match="unknown topic set 'scifact-tset'.*did you mean 'scifact-test'"):
        read_topics("scifact-tset")
