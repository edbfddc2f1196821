"""The quickstart's answer table: deltas against every baseline, read from a committed leaderboard."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lead_ir.quickstart import delta_table, student_summary

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


def test_student_summary_states_the_share_of_the_teacher_and_the_savings_from_the_committed_pilot():
    pilot = STUDY.parent / "scifact-query-pilot"
    (line,) = student_summary(pilot, {"lead-align": "teacher-zero-shot"}, "ndcg@10")
    table = pd.read_csv(pilot / "leaderboard.csv", index_col=0)
    share = table.at["lead-align", "ndcg@10:mean"] / table.at["teacher-zero-shot", "ndcg@10:mean"]
    speed = table.at["lead-align", "cost:query_ms_p50"] / table.at["teacher-zero-shot", "cost:query_ms_p50"]
    assert line.startswith(f"lead-align: nDCG@10 {table.at['lead-align', 'ndcg@10:mean']:.4f} = {share:.1%} of its "
                           f"teacher's (teacher-zero-shot: {table.at['teacher-zero-shot', 'ndcg@10:mean']:.4f})")
    assert f"({speed:.2f}x, p50" in line and "17.2M vs 22.6M parameters (3 vs 6 layers)" in line
    assert "index (8.0 MB), so no passage was re-encoded" in line
