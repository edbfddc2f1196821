"""One-GPU device check (run through bench/device_check.sh): encode docs/s, training samples/s, quickstart time.

On one NVIDIA GPU, in a few minutes, it measures and writes one Markdown table:

1. corpus encoding docs/s of `lead-ir encode` (end to end, corpus file in, FAISS index out) in fp16 and
   in bf16, against `SentenceTransformer.encode` (float32, its default) on the same texts, with each
   path's minimum cosine to the SentenceTransformer vectors;
2. training samples/s (queries per second, each with 1 + n passages) of the contrastive and the
   cached-LEAD step of the 3-layer student, in bf16 autocast (bench/bench_train_step.py's step);
3. the wall time of `lead-ir quickstart` with GPU settings (bigger batches, torch's thread count),
   in a fresh output folder.

``--dry-run`` runs the same code on the CPU at toy sizes with random tiny models (no quickstart),
so the script is tested where no GPU is.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))


def encode_rows(model_dir: str, texts: list[tuple[str, str]], device: str, precisions: list[str], batch: int,
                max_length: int, tmp: Path) -> list[tuple[str, str, str, str]]:
    import faiss
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from lead_ir.encode import EncodeOptions, encode_corpus

    corpus = tmp / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": d, "contents": t}) + "\n" for d, t in texts))
    plain = [t for _, t in texts]
    st = SentenceTransformer(model_dir, device=device)
    st.max_seq_length = max_length
    st.encode(plain[:batch], batch_size=batch)  # warm-up
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    start = time.perf_counter()
    ref = st.encode(plain, batch_size=batch, convert_to_numpy=True)
    sync()
    st_rate = len(plain) / (time.perf_counter() - start)
    rows = [("encode", f"SentenceTransformer.encode fp32, batch {batch}, max len {max_length}", f"{st_rate:.0f} docs/s",
             "1.00x")]
    for precision in precisions:
        options = EncodeOptions(batch_size=batch, max_length=max_length, precision=precision, device=device)
        encode_corpus(model_dir, str(corpus), tmp / f"warm-{precision}", options)  # warm-up (kernels, allocator)
        start = time.perf_counter()
        encode_corpus(model_dir, str(corpus), tmp / f"index-{precision}", options)
        sync()
        rate = len(plain) / (time.perf_counter() - start)
        index = faiss.read_index(str(tmp / f"index-{precision}" / "index"))
        ours = index.reconstruct_n(0, index.ntotal)
        cosine = float(np.min(np.sum(ours * ref, 1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)))
        rows.append(("encode", f"lead-ir encode --precision {precision} (end to end, min cosine {cosine:.5f})",
                     f"{rate:.0f} docs/s", f"{rate / st_rate:.2f}x"))
    return rows


def train_rows(model_dir: str, device: str, precision: str, queries: int, negatives: int, passage_len: int,
               steps: int, tmp: Path) -> list[tuple[str, str, str, str]]:
    from bench_train_step import step_times

    args = argparse.Namespace(queries=queries, negatives=negatives, passage_len=passage_len, steps=steps,
                              student_layers=3)
    med = step_times(args, model_dir, tmp, [precision], device)
    setting = f"3-layer student, {precision}, {queries} queries x (1+{negatives}), passage len {passage_len}"
    contrastive, lead = med[f"{precision} contrastive"], med[f"{precision} lead"]
    return [("train", f"contrastive step, {setting}", f"{queries / contrastive:.1f} samples/s", "1.00x"),
            ("train", f"LEAD step with the frozen-teacher cache, {setting}", f"{queries / lead:.1f} samples/s",
             f"{contrastive / lead:.2f}x")]


def quickstart_row(tmp: Path, timeout: int) -> tuple[str, str, str, str]:
    overrides = [f"output_dir={tmp / 'quickstart'}", f"results_dir={tmp / 'quickstart' / 'results'}",
                 "train.run.threads=0", "train.run.eval_batch_size=256", "encode.batch_size=256"]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lead_ir", "-q", "quickstart", *overrides], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - start
    if done.returncode:
        return ("quickstart", "lead-ir quickstart, GPU settings", f"failed: {done.stderr.strip()[-200:]}", "")
    return ("quickstart", "lead-ir quickstart (" + ", ".join(overrides[2:]) + ")", f"{seconds:.0f} s wall", "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, toy sizes, tiny random models, no quickstart")
    parser.add_argument("--out", default="device_check.md", help="Markdown table written here")
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--docs", type=int, default=5183, help="documents encoded (SciFact when available)")
    parser.add_argument("--quickstart-timeout", type=int, default=300)
    args = parser.parse_args(argv)

    import torch

    from lead_ir.log import set_quiet

    set_quiet(True)
    tmp = Path(tempfile.mkdtemp(prefix="device-check-"))
    start = time.perf_counter()
    if args.dry_run:
        sys.path.insert(0, str(REPO / "tests"))
        from bench_lead_step import WORDS
        from fixtures_models import WORD_VOCAB, build_tiny_bert

        from lead_ir.models.spec import EncoderSpec

        device, model_dir = "cpu", str(build_tiny_bert(tmp / "model", WORD_VOCAB + WORDS, hidden=32, layers=4))
        EncoderSpec(pooling="mean").save(model_dir)  # SentenceTransformer mean-pools a plain BERT folder
        texts = [(f"d{i}", " ".join(WORDS[(i + j) % len(WORDS)] for j in range(20))) for i in range(24)]
        machine = "dry run on the CPU (tiny random BERT, toy sizes): checks the script, not the device"
        rows = encode_rows(model_dir, texts, device, ["fp32", "bf16"], 8, 32, tmp)
        rows += train_rows(model_dir, device, "fp32", 4, 2, 16, 1, tmp)
        rows.append(("quickstart", "lead-ir quickstart, GPU settings", "skipped in a dry run", ""))
    else:
        if not torch.cuda.is_available():
            print("device_check: no CUDA GPU visible; run it on a GPU machine, or pass --dry-run", file=sys.stderr)
            return 2
        from bench_encode import load_texts

        from lead_ir.resolve import resolve_model

        device, model_dir = "cuda", str(resolve_model(args.model))
        machine = f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, {os.cpu_count()} CPU cores"
        rows = encode_rows(model_dir, load_texts(args.docs), device, ["fp16", "bf16"], 256, 256, tmp)
        rows += train_rows(model_dir, device, "bf16", 64, 7, 128, 10, tmp)
        rows.append(quickstart_row(tmp, args.quickstart_timeout))
    lines = [f"Device check: {machine}; total {time.perf_counter() - start:.0f} s.", "",
             "| what | setting | figure | vs reference |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
