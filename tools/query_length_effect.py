"""What cutting queries costs: a dense model's test nDCG@10 with full-length queries and with queries cut to N tokens.

    python tools/query_length_effect.py --model DIR --index DIR [--topics scifact-test] [--qrels scifact-test] \
        [--cut 32]

Prints how many queries are longer than the cut and both scores (docs/results.md, "Query length").
"""

from __future__ import annotations

import argparse

from lead_ir.data.collections import read_qrels, read_topics
from lead_ir.evaluation import evaluate_runs
from lead_ir.search import LeadQueryEncoder, open_dense_searcher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--index", required=True)
    parser.add_argument("--topics", default="scifact-test")
    parser.add_argument("--qrels", default="scifact-test")
    parser.add_argument("--cut", type=int, default=32)
    args = parser.parse_args()
    topics, qrels = read_topics(args.topics), read_qrels(args.qrels)
    qids = list(topics)
    runs = {}
    for name, length in (("full", None), (f"cut{args.cut}", args.cut)):
        encoder = LeadQueryEncoder(args.model, max_length=length)
        searcher = open_dense_searcher(args.index, encoder)
        hits = searcher.batch_search([topics[q] for q in qids], qids, k=100, threads=1)
        runs[name] = {q: {h.docid: float(h.score) for h in hits[q]} for q in qids}
    tokenizer = encoder.encoder.tokenizer
    prefix = encoder.spec.query_prefix
    longer = sum(len(tokenizer(prefix + topics[q])["input_ids"]) > args.cut for q in qids)
    means = evaluate_runs(qrels, runs, ["ndcg@10"]).means["ndcg@10"]
    print(f"{args.model}: {longer} of {len(qids)} queries longer than {args.cut} tokens; nDCG@10 full "
          f"{means['full']:.4f}, cut to {args.cut}: {means[f'cut{args.cut}']:.4f} "
          f"(cut - full {means[f'cut{args.cut}'] - means['full']:+.4f})")


if __name__ == "__main__":
    main()
