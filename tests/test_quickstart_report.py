"""The quickstart's answer table: deltas against every baseline, read from a committed leaderboard."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lead_ir.quickstart import delta_table

STUDY = Path(__file__).resolve().parents[1] / "runs" / "scifact"


def test_delta_table_shows_every_baseline_with_the_leaderboards_numbers():
    text = delta_table(STUDY, "ndcg@10", ["bm25", "contrastive"])
    table = pd.read_csv(STUDY / "leaderboard.csv", index_col=0)
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert "Δ vs bm25 [95% CI]" in text and "Δ vs contrastive [95% CI]" in text
    assert set(table.index) <= set(rows)
    lead = rows["lead"].split("|")
    assert lead[4].strip().startswith(f"{table.at['lead', 'ndcg@10:delta:contrastive']:+.4f}")
    assert lead[3].strip().startswith(f"{table.at['lead', 'ndcg@10:delta:bm25']:+.4f}*")  # Holm-significant
    assert rows["contrastive"].split("|")[4].strip() == "—"
