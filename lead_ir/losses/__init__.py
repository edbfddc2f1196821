"""Pure losses over score tensors; each returns a dict of named parts.

- :mod:`contrastive`: InfoNCE (L_stu / L_tch);
- :mod:`kd`: response KD, KL(p_T || p_S) with temperatures (L_rep, reverse KL);
- :mod:`margin_mse`: Margin-MSE (Hofstätter et al., 2020);
- :mod:`layers`: seeded layer-pair selection and layer re-weighting;
- :mod:`lead`: the LEAD layer loss L_lyr;
- :mod:`scores`: per-layer ``Scores`` and the candidate/positive index helpers;
- :mod:`terms`: the table of loss terms (name, function, needs-teacher, default weight);
- :mod:`objective`: L = L_stu + λ_rep L_rep + λ_lyr L_lyr (+ joint-teacher terms), driven by the table.
"""

from lead_ir.losses.contrastive import info_nce
from lead_ir.losses.kd import kl_rows, response_kd
from lead_ir.losses.layers import LayerSelector, layer_weights
from lead_ir.losses.lead import lead_layer_loss
from lead_ir.losses.margin_mse import margin_mse
from lead_ir.losses.terms import TERMS, Term

__all__ = ["TERMS", "LayerSelector", "Term", "info_nce", "kl_rows", "layer_weights", "lead_layer_loss", "margin_mse",
           "response_kd"]
