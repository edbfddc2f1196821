"""A user's own TREC collection: topic/qrels/SGML variants as found in the wild, `topics split` and
`topics export`, trec_eval-style defaults, and a whole study on an in-test TREC collection whose test
qrels change without retraining (issue 17)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from lead_ir.cli import main
from lead_ir.data.collections import iter_corpus, read_qrels, read_topics, topic_family
from lead_ir.data.split import partition_qids, split_qids
from lead_ir.errors import InputFormatError, LeadIRError
from lead_ir.evaluation import default_metrics, parse_metric_list
from lead_ir.runs import run_tag

# --------------------------------------------------------------------------- topics
ONE_LINE = ("<top>\n<num>1</num><title>compact memories</title>\n</top>\n"
            "<top>\n<num>2</num><title>flux</title>\n</top>\n")
TOPIC_VARIANTS = {
    "one-line-lower": (ONE_LINE, {"1": "compact memories", "2": "flux"}),
    "all-on-one-line": ("<top><num>7</num><title>a b</title></top><top><num>8</num><title>c</title></top>",
                        {"7": "a b", "8": "c"}),
    "classic-unclosed": ("<top>\n<num> Number: 301\n<title> International Organized Crime\n\n<desc> Description:\n"
                         "Identify organizations.\n\n<narr> Narrative:\nA relevant document.\n</top>\n",
                         {"301": "International Organized Crime"}),
    "upper-closed-prefix": ("<TOP>\n<NUM> Number: 302 </NUM>\n<TITLE> Topic: Poliomyelitis </TITLE>\n</TOP>\n",
                            {"302": "Poliomyelitis"}),
    "xml-covid": ('<?xml version="1.0"?>\n<topics>\n  <topic number="1">\n    <query>coronavirus origin</query>\n'
                  "    <question>what is the origin of COVID-19</question>\n    <narrative>x &amp; y</narrative>\n"
                  "  </topic>\n  <topic number='2'><query>weather</query><question>q2</question></topic>\n</topics>\n",
                  {"1": "coronavirus origin", "2": "weather"}),
}


@pytest.mark.parametrize("name", list(TOPIC_VARIANTS))
def test_trec_topic_variants(tmp_path, name):
    content, expected = TOPIC_VARIANTS[name]
    path = tmp_path / "topics.txt"
    path.write_text(content)
    assert read_topics(str(path)) == expected


def test_topic_fields_are_selectable(tmp_path):
    trec = tmp_path / "t.txt"
    trec.write_text(TOPIC_VARIANTS["classic-unclosed"][0])
    assert read_topics(str(trec), "desc") == {"301": "Identify organizations."}
    assert read_topics(str(trec), "title+desc") == {"301": "International Organized Crime Identify organizations."}
    assert read_topics(str(trec), "narr") == {"301": "A relevant document."}
    xml = tmp_path / "t.xml"
    xml.write_text(TOPIC_VARIANTS["xml-covid"][0])
    assert read_topics(str(xml), "desc") == {"1": "what is the origin of COVID-19", "2": "q2"}
    assert read_topics(str(xml), "narrative") == {"1": "x & y"}  # topic 2 has none: skipped with a warning
    csv = tmp_path / "t.csv"
    csv.write_text('qid,title,description\n1,"foo, bar",long foo\n2,baz,long baz\n')
    assert read_topics(str(csv)) == {"1": "foo, bar", "2": "baz"}
    assert read_topics(str(csv), "desc") == {"1": "long foo", "2": "long baz"}
    tsv = tmp_path / "t.tsv"
    tsv.write_text("query_id\ttext\n7\thello world\n")
    assert read_topics(str(tsv)) == {"7": "hello world"}
    with pytest.raises(InputFormatError, match=r"t\.tsv: no topic has a 'desc' field \(fields: text\)"):
        read_topics(str(tsv), "desc")
    with pytest.raises(InputFormatError, match=r"no topic has a 'titel' field \(did you mean 'title'\?\)"):
        read_topics(str(xml), "titel")


BAD_IDS = {
    "trec-unclosed-num": ("t.txt", "<top>\n<num>1</num\n<title>x\n</top>\n", r"t\.txt:2: query id '1</num' contains "
                                                                               r"markup"),
    "trec-words-in-num": ("t.txt", "<top>\n<num> Number: 301 International Crime\n</top>\n",
                          r"t\.txt:2: query id '301 International Crime' contains whitespace"),
    "tsv-markup": ("t.tsv", "1</num>\tfoo\n", r"t\.tsv:1: query id '1</num>' contains markup"),
    "tsv-space": ("t.tsv", "1\tfoo\n2 3\tbar\n", r"t\.tsv:2: query id '2 3' contains whitespace"),
    "jsonl-markup": ("t.jsonl", '{"_id": "<b>4</b>", "text": "x"}\n', r"t\.jsonl:1: query id '<b>4</b>' contains "
                                                                       r"markup"),
    "xml-space": ("t.xml", '<topics><topic number="5 6"><query>x</query></topic></topics>\n',
                  r"t\.xml:1: query id '5 6' contains whitespace"),
}


@pytest.mark.parametrize("name", list(BAD_IDS))
def test_markup_or_whitespace_in_an_id_is_refused_at_read_time(tmp_path, name):
    file_name, content, message = BAD_IDS[name]
    path = tmp_path / file_name
    path.write_text(content)
    with pytest.raises(InputFormatError, match=message) as info:
        read_topics(str(path))
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- qrels and corpora
def test_qrels_tabs_spaces_iteration_and_column_errors(tmp_path):
    path = tmp_path / "q.txt"
    path.write_text("1\t0\td1\t1\n1 Q0 d2 0\n2   7   d3   2\n")
    assert read_qrels(str(path)) == {"1": {"d1": 1, "d2": 0}, "2": {"d3": 2}}
    assert topic_family(str(path)) == "trec"
    path.write_text("1 0 d1 1\n1 0 d2\n")
    with pytest.raises(InputFormatError, match=r"q\.txt:2: expected 'qid 0 docid relevance' \(TREC\), 4 fields"):
        read_qrels(str(path))
    path.write_text("1 0 d1 1 extra\n")
    with pytest.raises(InputFormatError, match=r"q\.txt:1: expected 'qid 0 docid relevance'.*found 5 fields"):
        read_qrels(str(path))


SGML = ("<doc>\n<docno> 1 </docno>\ncompact memories have flexible capacities\n</doc>\n"
        "<DOC><DOCNO>FT-2</DOCNO><HEADLINE>Big &amp; news</HEADLINE><TEXT><P>para one</P><P>two</TEXT></DOC><doc>\n"
        "<DOCNO>3</DOCNO>\n<DATE>1990</DATE>\n<TEXT>\nthree\n</TEXT>\n</doc>\n")


def test_trec_sgml_variants_and_fields(tmp_path):
    path = tmp_path / "docs.sgml"
    path.write_text(SGML)
    docs = [(d.doc_id, d.text) for d in iter_corpus(str(path))]
    assert docs == [("1", "compact memories have flexible capacities"), ("FT-2", "Big & news para one two"),
                    ("3", "1990 three")]
    picked = [(d.doc_id, d.text) for d in iter_corpus(str(path), fields=["TEXT", "headline"])]
    assert picked == [("FT-2", "Big & news para one two"), ("3", "three")]  # doc 1 has neither field
    path.write_text("<DOC>\n<DOCNO>1</DOCNO>\nx\n<DOC>\n<DOCNO>2</DOCNO>\n</DOC>\n")
    with pytest.raises(InputFormatError, match=r"docs\.sgml:4: <DOC> opened before the previous </DOC>"):
        list(iter_corpus(str(path)))
    path.write_text("<DOC>\n<DOCNO>a b</DOCNO>\nx\n</DOC>\n")
    with pytest.raises(InputFormatError, match=r"docs\.sgml:1: document id 'a b' contains whitespace"):
        list(iter_corpus(str(path)))


# --------------------------------------------------------------------------- split, export, metrics, tags
def _topic_set(tmp_path: Path, n: int = 20) -> tuple[Path, Path]:
    topics = tmp_path / "all.tsv"
    topics.write_text("".join(f"{i}\tquery {i}\n" for i in range(1, n + 1)))
    qrels = tmp_path / "all.qrels"
    qrels.write_text("".join(f"{i} 0 d{i} {1 if i != 3 else 0}\n" for i in range(1, n + 1)))  # topic 3: none relevant
    return topics, qrels


def test_partition_is_seeded_disjoint_and_agrees_with_split_qids():
    qids = [str(i) for i in range(50)]
    parts = partition_qids(qids, {"test": 0.2, "dev": 0.2}, seed=5)
    assert sorted(len(p) for p in parts.values()) == [10, 10, 30]
    assert set().union(*parts.values()) == set(qids) and sum(map(len, parts.values())) == 50
    assert partition_qids(reversed(qids), {"test": 0.2, "dev": 0.2}, seed=5) == parts
    assert partition_qids(qids, {"test": 0.2, "dev": 0.3}, seed=5)["test"] == parts["test"]  # test stays put
    train, dev = split_qids(qids, 0.2, seed=5)
    assert partition_qids(qids, {"dev": 0.2}, seed=5) == {"dev": dev, "train": train}
    with pytest.raises(LeadIRError, match="add up to 1 or more"):
        partition_qids(qids, {"test": 0.5, "dev": 0.5})
    with pytest.raises(LeadIRError, match="not among the topics"):
        partition_qids(qids, fixed={"test": ["nope"]})


def test_topics_split_cli_by_fraction_and_by_ids(tmp_path, capsys):
    topics, qrels = _topic_set(tmp_path)
    out = tmp_path / "split"
    assert main(["-q", "topics", "split", "--topics", str(topics), "--qrels", str(qrels), "--output-dir", str(out),
                 "--test", "0.25", "--dev", "0.2", "--seed", "3"]) == 0
    parts = {p: read_topics(str(out / f"{p}-topics.tsv")) for p in ("train", "dev", "test")}
    assert [len(parts[p]) for p in ("train", "dev", "test")] == [10, 4, 5]  # 19 judged topics
    assert "3" not in set().union(*parts.values())  # no relevant judgment: left out
    for p in parts:
        assert set(read_qrels(str(out / f"{p}-qrels.txt"))) == set(parts[p])
    assert json.loads((out / "split.json").read_text())["counts"] == {"train": 10, "dev": 4, "test": 5}
    ids = tmp_path / "test-ids.txt"
    ids.write_text("# held-out topics\n1\n2\n")
    out2 = tmp_path / "split2"
    assert main(["-q", "topics", "split", "--topics", str(topics), "--qrels", str(qrels), "--output-dir", str(out2),
                 "--test-ids", str(ids), "--dev", "0.2"]) == 0
    assert read_topics(str(out2 / "test-topics.tsv")) == {"1": "query 1", "2": "query 2"}
    capsys.readouterr()
    assert main(["-q", "topics", "split", "--topics", str(topics), "--qrels", str(qrels), "--output-dir", str(out2),
                 "--test", "0.6", "--dev", "0.5"]) == 2
    assert "add up to 1 or more" in capsys.readouterr().err


def test_topics_export_writes_the_tsv_pyserini_reads(tmp_path):
    trec = tmp_path / "topics.txt"
    trec.write_text(TOPIC_VARIANTS["classic-unclosed"][0])
    out = tmp_path / "out.tsv"
    assert main(["-q", "topics", "export", str(trec), "--output", str(out), "--topic-field", "title+desc"]) == 0
    assert out.read_text() == "301\tInternational Organized Crime Identify organizations.\n"


def test_metric_lists_and_trec_defaults(tmp_path, capsys):
    assert parse_metric_list(["map,nDCG@10", "P@10"]) == ["map", "ndcg@10", "precision@10"]
    assert default_metrics("trec") == ["map", "ndcg@10", "precision@10", "recall@1000"]
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("1 0 a 1\n1 0 b 0\n2 0 c 2\n")
    run = tmp_path / "run.trec"
    run.write_text("1 Q0 b 1 2.0 t\n1 Q0 a 2 1.0 t\n2 Q0 c 1 3.0 t\n")
    assert main(["-q", "evaluate", "--qrels", str(qrels), str(run), "--format", "json"]) == 0
    means = json.loads(capsys.readouterr().out)["run"]
    assert set(means) == {"map", "ndcg@10", "precision@10", "recall@1000"} and means["map"] == 0.75
    assert main(["-q", "evaluate", "--qrels", str(qrels), "--metrics", "map,ndcg@10", str(run), "--format",
                 "json"]) == 0
    assert set(json.loads(capsys.readouterr().out)["run"]) == {"map", "ndcg@10"}
    assert main(["-q", "evaluate", "--qrels", str(qrels), "--metrics", "map", "ndcg@10", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'ndcg@10' is not a run file" in err and "--metrics map,ndcg@10" in err


def test_run_tags_do_not_repeat_the_kind():
    assert run_tag("hybrid", "runs/hybrid.trec") == "hybrid"
    assert run_tag("fuse", "out/fuse-rrf.trec") == "fuse-rrf"
    assert run_tag("dense", "out/dl19.trec.gz") == "dense-dl19"
    assert run_tag("dense", "x.trec", given="mine") == "mine"


# --------------------------------------------------------------------------- search and a whole study
WORDS = ("vitamin diet cancer insulin diabetes sleep memory mice virus immune gene therapy heart obesity drug dose "
         "blood bone muscle lung tumor liver kidney protein brain cells growth infection risk study").split()


def write_trec_collection(root: Path, n_docs: int = 40, n_topics: int = 30) -> dict[str, Path]:
    """An SGML corpus (lower-case tags, DOCNO padded with spaces), one-line lower-case-tag topics, TREC qrels
    with tabs and a non-zero iteration column: topic i's relevant document is document i."""
    root.mkdir(parents=True, exist_ok=True)
    docs = {i: " ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(6)) for i in range(n_docs)}
    (root / "docs.sgml").write_text("".join(f"<doc>\n<docno> D{i} </docno>\n<text>\n{t}\n</text>\n</doc>\n"
                                            for i, t in docs.items()))
    (root / "topics.txt").write_text("".join(f"<top>\n<num>{i}</num><title>{' '.join(docs[i].split()[:3])}</title>\n"
                                             f"</top>\n" for i in range(1, n_topics + 1)))
    (root / "qrels.txt").write_text("".join(f"{i}\t1\tD{i}\t1\n" for i in range(1, n_topics + 1)))
    return {"corpus": root / "docs.sgml", "topics": root / "topics.txt", "qrels": root / "qrels.txt"}


SEARCH_TOPICS = {  # the same three topics written the ways topic files come
    "one-line-lower": "".join(f"<top>\n<num>{i}</num><title>{t}</title>\n</top>\n" for i, t in
                              ((1, "vitamin diet"), (2, "insulin diabetes"), (3, "sleep memory"))),
    "single-line": "<top><num>1</num><title>vitamin diet</title></top><top><num>2</num><title>insulin diabetes"
                   "</title></top><top><num>3</num><title>sleep memory</title></top>",
    "classic-upper": "".join(f"<TOP>\n<NUM> Number: {i}\n<TITLE> Topic: {t}\n\n<DESC> Description:\nx\n</TOP>\n"
                             for i, t in ((1, "vitamin diet"), (2, "insulin diabetes"), (3, "sleep memory"))),
    "xml": "<topics>" + "".join(f'<topic number="{i}"><query>{t}</query></topic>' for i, t in
                                ((1, "vitamin diet"), (2, "insulin diabetes"), (3, "sleep memory"))) + "</topics>\n",
}


@pytest.mark.java
def test_search_bm25_on_real_world_topic_files_writes_the_right_ids(tmp_path, capsys):
    data = write_trec_collection(tmp_path / "c", n_docs=12, n_topics=3)
    index = tmp_path / "index"
    assert main(["-q", "index", "bm25", "--corpus", str(data["corpus"]), "--index", str(index), "--threads", "1"]) == 0
    for name, content in SEARCH_TOPICS.items():
        topics, run = tmp_path / f"{name}.txt", tmp_path / f"{name}.trec"
        topics.write_text(content)
        assert main(["-q", "search", "bm25", "--index", str(index), "--topics", str(topics), "--output", str(run),
                     "--k", "3", "--threads", "1"]) == 0, name
        lines = [line.split() for line in run.read_text().splitlines()]
        assert list(dict.fromkeys(row[0] for row in lines)) == ["1", "2", "3"], name
        assert {row[2] for row in lines} <= {f"D{i}" for i in range(12)}, name
    capsys.readouterr()
    for name, (file_name, content, message) in BAD_IDS.items():
        bad, out = tmp_path / file_name, tmp_path / f"bad-{name}.trec"
        bad.write_text(content)
        assert main(["-q", "search", "bm25", "--index", str(index), "--topics", str(bad), "--output", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("lead-ir: error: "), (name, err)
        assert re.search(message, err), (name, err)
        assert not out.exists(), name


@pytest.mark.slow
@pytest.mark.java
def test_split_then_study_end_to_end_and_test_qrels_change_reruns_only_evaluation(tmp_path, capsys):
    from fixtures_models import WORD_VOCAB, build_tiny_bert

    data = write_trec_collection(tmp_path / "collection")
    split = tmp_path / "split"
    assert main(["-q", "topics", "split", "--topics", str(data["topics"]), "--qrels", str(data["qrels"]),
                 "--output-dir", str(split), "--test", "0.2", "--seed", "1"]) == 0
    teacher = build_tiny_bert(tmp_path / "teacher", WORD_VOCAB, hidden=32, layers=2)
    config = {
        "name": "own-trec", "output_dir": str(tmp_path / "exp"), "results_dir": str(tmp_path / "results"), "seed": 7,
        "data": {"corpus": str(data["corpus"]), "train_topics": str(split / "train-topics.tsv"),
                 "train_qrels": str(split / "train-qrels.txt"), "test_topics": str(split / "test-topics.tsv"),
                 "test_qrels": str(split / "test-qrels.txt"), "dev_fraction": 0.25},
        "bm25": {"threads": 1, "train_depth": 10},
        "mining": {"depth": 10, "num_negatives": 4},
        "teacher": {"model": str(teacher), "warmup": False},
        "train": {"student": {"query_max_len": 12, "passage_max_len": 16},
                  "data": {"negatives": 1, "negatives_depth": 4},
                  "optim": {"max_steps": 2, "batch_queries": 4, "lr": 1e-3}, "run": {"save_every": 0, "threads": 1}},
        "arms": [{"name": "contrastive", "student_layers": [1], "teacher": "zero-shot",
                  "train": {"loss": {"weights": {"response": 0.0, "layer": 0.0}}}}],
        "encode": {"batch_size": 16, "max_length": 16},
        "evaluation": {"metrics": [], "baselines": ["bm25"], "run_depth": 10},
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    assert main(["-q", "experiment", str(path)]) == 0
    board = (tmp_path / "results" / "leaderboard.md").read_text()
    assert "MAP" in board and "P@10" in board and "contrastive" in board  # TREC qrels: trec_eval defaults
    test_ids = set(read_topics(str(split / "test-topics.tsv")))
    assert {line.split()[0] for line in (tmp_path / "results" / "bm25.trec").read_text().splitlines()} == test_ids

    def plan(*overrides: str) -> dict[str, str]:
        capsys.readouterr()
        assert main(["-q", "experiment", str(path), *overrides, "--dry-run"]) == 0
        rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.strip()]
        return {row[0]: row[1] for row in rows}

    assert set(plan().values()) == {"skip"}
    graded = tmp_path / "graded-qrels.txt"  # the same test topics, judged again
    graded.write_text("".join(f"{q} 0 D{q} 2\n{q} 0 D{int(q) + 1} 1\n" for q in sorted(test_ids)))
    changed = plan(f"data.test_qrels={graded}")
    assert {name for name, action in changed.items() if action == "run"} == {"leaderboard"}
    narrower = tmp_path / "fewer-test-topics.tsv"
    kept = list(read_topics(str(split / "test-topics.tsv")).items())[:3]
    narrower.write_text("".join(f"{q}\t{t}\n" for q, t in kept))
    rerun = {name for name, action in plan(f"data.test_topics={narrower}").items() if action == "run"}
    assert "bm25-test" in rerun and "dense-contrastive" in rerun and "leaderboard" in rerun
    assert not rerun & {"bm25-index", "split", "bm25-runs", "mine", "student-contrastive", "encode-contrastive"}


def test_experiment_config_splits_one_topic_set(tmp_path):
    from lead_ir.errors import ConfigError
    from lead_ir.experiment.stages.split import split_topics
    from lead_ir.experiment.study import Study, load_experiment

    data = write_trec_collection(tmp_path / "c", n_docs=24, n_topics=20)
    base = [f"data.corpus={data['corpus']}", f"data.topics={data['topics']}", f"data.qrels={data['qrels']}",
            f"output_dir={tmp_path / 'exp'}", "arms=[]", "teacher.warmup=false", "data.dev_fraction=0.25"]
    study = Study(load_experiment(None, base + ["data.test_fraction=0.25"]))
    assert study.pipeline.stages[[s.name for s in study.pipeline.stages].index("bm25-test")].deps == ("bm25-index",
                                                                                                       "split")
    out = tmp_path / "split-out"
    out.mkdir()
    counts = split_topics(study, out)
    parts = {p: set(read_topics(str(out / f"{p}-topics.tsv"))) for p in ("train", "dev", "test")}
    assert {k: v for k, v in counts.items() if k.endswith("_queries")} == {"train_queries": 11, "dev_queries": 4,
                                                                            "test_queries": 5}
    assert counts["test_topics"] == "test-topics.tsv" and counts["dev_qrels"] == "dev-qrels.txt"  # named outputs
    assert {len(p) for p in parts.values()} == {11, 4, 5} and len(set().union(*parts.values())) == 20
    assert set(read_qrels(str(out / "test-qrels.txt"))) == parts["test"]
    again = tmp_path / "again"
    again.mkdir()
    split_topics(Study(load_experiment(None, base + ["data.test_fraction=0.25", "data.dev_fraction=0.4"])), again)
    assert set(read_topics(str(again / "test-topics.tsv"))) == parts["test"]  # the test part stays put
    with pytest.raises(ConfigError, match="remove data.test_qrels"):
        load_experiment(None, base + ["data.test_fraction=0.25", "data.test_qrels=x.txt"])
    with pytest.raises(ConfigError, match="one of data.test_fraction"):
        load_experiment(None, base)


@pytest.mark.parametrize("order", [["seed=3", "--dry-run", "--force", "mine"],
                                   ["--dry-run", "seed=3", "--force", "mine"],
                                   ["--force", "mine", "seed=3", "--dry-run"]])
def test_experiment_overrides_and_flags_in_any_order(tmp_path, capsys, order):
    config = Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"
    assert main(["-q", "experiment", str(config), f"output_dir={tmp_path}", *order]) == 0
    plan = {line.split()[0]: line.split()[2] for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert plan["mine"] == "(forced)" and plan["bm25-index"] == "(todo)"
    assert main(["-q", "experiment", str(config), "seed=3", "--dry-run", "--bogus"]) == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
