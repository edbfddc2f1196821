"""TREC run writer (deterministic order, atomic) and validating reader."""

import pytest

from lead_ir.errors import InputFormatError
from lead_ir.runs import read_run, write_run


def test_writer_sorts_breaks_ties_and_ranks(tmp_path):
    path = tmp_path / "r.trec"
    write_run({"2": {"b": 1.0, "a": 1.0, "c": 3.0}, "10": {"x": 0.5}}, path, tag="mytag")
    assert path.read_text().splitlines() == [
        "2 Q0 c 1 3.000000 mytag", "2 Q0 a 2 1.000000 mytag", "2 Q0 b 3 1.000000 mytag",
        "10 Q0 x 1 0.500000 mytag"]
    assert read_run(path) == {"2": {"c": 3.0, "a": 1.0, "b": 1.0}, "10": {"x": 0.5}}


def test_writer_cuts_at_k_and_leaves_no_temp(tmp_path):
    path = tmp_path / "r.trec"
    write_run({"1": {f"d{i}": float(i) for i in range(10)}}, path, tag="t", k=3)
    assert [line.split()[2] for line in path.read_text().splitlines()] == ["d9", "d8", "d7"]
    assert [p.name for p in tmp_path.iterdir()] == ["r.trec"]


@pytest.mark.parametrize("content, message", [
    ("1 Q0 d1 1 2.0 t\n1 Q0 d2 2 1.0\n", r"r\.trec:2: expected 6 fields"),
    ("1 Q0 d1 1 abc t\n", r"r\.trec:1: score 'abc' is not a number"),
    ("1 Q0 d1 1 nan t\n", r"r\.trec:1: score 'nan' is not finite"),
    ("1 Q0 d1 1 2.0 t\n1 Q0 d1 2 1.0 t\n", r"r\.trec:2: query '1' retrieves document 'd1' twice"),
    ("", r"run file is empty"),
])
def test_reader_reports_first_bad_line(tmp_path, content, message):
    path = tmp_path / "r.trec"
    path.write_text(content)
    with pytest.raises(InputFormatError, match=message):
        read_run(path)
