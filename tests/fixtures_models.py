"""Tiny random BERT models and a toy training set, built in-test (no downloads).

Two vocabularies make the "liberal" case: ``WORD_VOCAB`` splits text into whole words,
``CHAR_VOCAB`` into characters, so the same text gets different token ids and lengths.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import torch
from transformers import BertConfig, BertModel, BertTokenizer

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ("the a of and cell cells protein gene genes cancer tumor blood heart brain virus drug dose risk "
         "patients mice study increases reduces causes treatment therapy effect vitamin diet sleep memory "
         "infection immune response insulin diabetes obesity bone muscle lung liver kidney").split()
WORD_VOCAB = SPECIAL + WORDS + list(string.ascii_lowercase) + [f"##{c}" for c in string.ascii_lowercase]
CHAR_VOCAB = SPECIAL + list(string.ascii_lowercase) + [f"##{c}" for c in string.ascii_lowercase] + list("0123456789")


def build_tiny_bert(path: Path, vocab: list[str], hidden: int = 32, layers: int = 4, seed: int = 0,
                    init_range: float = 0.02) -> Path:
    """Save a random BertModel (dropout off, so runs are deterministic) and its tokenizer at ``path``.

    ``init_range`` is the weights' std (BERT's 0.02). At 0.02 every text's [CLS] vector is the same
    to six digits (cosine 1.0000), so a ranking is decided by rounding: a test that compares the
    rankings of two numerically different computations (one process and two) needs 0.2, where the
    cosines spread over 0.6-0.99 as a trained model's do.
    """
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                     intermediate_size=2 * hidden, max_position_embeddings=128, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, initializer_range=init_range)
    path.mkdir(parents=True, exist_ok=True)
    BertModel(cfg).save_pretrained(path)
    BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True).save_pretrained(path)
    return path


DOCS = {
    f"d{i}": text for i, text in enumerate([
        "vitamin diet reduces cancer risk", "insulin treatment of diabetes patients", "sleep and memory in mice",
        "virus infection causes immune response", "gene therapy for heart disease", "obesity increases diabetes risk",
        "drug dose effect on blood", "bone and muscle loss", "lung cancer tumor cells", "liver and kidney protein",
        "brain cells and memory", "immune cells reduce tumor growth", "blood protein increases heart risk",
        "diet effect on sleep", "mice gene study of obesity", "kidney infection treatment",
    ])
}
QUERIES = {"q0": "does vitamin reduce cancer", "q1": "insulin for diabetes", "q2": "sleep memory",
           "q3": "virus immune response", "q4": "heart gene therapy", "q5": "obesity diabetes risk",
           "q6": "blood drug dose", "q7": "bone muscle"}


def write_toy_data(directory: Path) -> tuple[Path, Path]:
    """Write ``corpus.jsonl`` and ``train.jsonl`` (query i's positive is d<i>, negatives all other docs)."""
    directory.mkdir(parents=True, exist_ok=True)
    corpus = directory / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"doc_id": d, "text": t}) + "\n" for d, t in DOCS.items()))
    train = directory / "train.jsonl"
    rows = []
    for i, (qid, query) in enumerate(QUERIES.items()):
        negatives = [d for d in DOCS if d != f"d{i}"]
        rows.append({"qid": qid, "query": query, "positives": [f"d{i}"], "negatives": negatives})
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    qrels = directory / "qrels.txt"
    qrels.write_text("".join(f"q{i} 0 d{i} 1\n" for i in range(len(QUERIES))))
    topics = directory / "topics.tsv"
    topics.write_text("".join(f"{q}\t{t}\n" for q, t in QUERIES.items()))
    return corpus, train
