"""Make a shallower student from a teacher backbone by keeping a subset of its transformer blocks.

Uses public APIs only: the backbone's block list is the ``nn.ModuleList`` whose length equals
``config.num_hidden_layers`` (``encoder.layer`` for BERT/RoBERTa/MPNet, ``transformer.layer`` for
DistilBERT); it is replaced by the selected blocks and ``config.num_hidden_layers`` updated, so
``save_pretrained`` / ``AutoModel.from_pretrained`` round-trip the smaller model.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from torch import nn

from lead_ir.errors import LeadIRError


def _block_list(model: nn.Module) -> tuple[nn.Module, str, nn.ModuleList]:
    """(parent, attribute, ModuleList) of the transformer blocks of ``model``."""
    n = int(model.config.num_hidden_layers)
    found = []
    for parent_name, parent in model.named_modules():
        for attr, child in parent.named_children():
            if isinstance(child, nn.ModuleList) and len(child) == n and len({type(m) for m in child}) == 1:
                found.append((parent_name, parent, attr, child))
    if not found:
        raise LeadIRError(f"cannot find the {n} transformer blocks of {type(model).__name__}; "
                          f"truncate a BERT/RoBERTa/DistilBERT/MPNet-style model instead")
    found.sort(key=lambda item: item[0].count("."))  # the outermost list holds the blocks
    _, parent, attr, blocks = found[0]
    return parent, attr, blocks


def keep_layers(model: nn.Module, layers: Sequence[int]) -> nn.Module:
    """A copy of ``model`` holding only the given 1-based blocks, in the given (increasing) order.

    Args:
        model: a Hugging Face backbone (``AutoModel``) or task model with a ``config``.
        layers: e.g. ``[1, 2, 3]`` (the first three) or ``[1, 3, 5]``.

    Returns:
        a new model whose layer i is the original's block ``layers[i]``.
    """
    n = int(model.config.num_hidden_layers)
    layers = [int(layer) for layer in layers]
    if not layers or any(not 1 <= layer <= n for layer in layers):
        raise LeadIRError(f"keep_layers={layers}: choose layers in 1..{n} (the model has {n} blocks)")
    if sorted(set(layers)) != layers:
        raise LeadIRError(f"keep_layers={layers}: list distinct layers in increasing order")
    student = copy.deepcopy(model)
    parent, attr, blocks = _block_list(student)
    setattr(parent, attr, nn.ModuleList([blocks[layer - 1] for layer in layers]))
    student.config.num_hidden_layers = len(layers)
    for i, block in enumerate(getattr(parent, attr)):  # keep per-block indices consistent where models have them
        for module in block.modules():
            if hasattr(module, "layer_idx") and isinstance(module.layer_idx, int):
                module.layer_idx = i
    return student
