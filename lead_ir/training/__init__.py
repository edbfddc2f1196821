"""The LEAD trainer, split by concern: config, data, teacher cache, distributed helpers,
one training step, dev evaluation, checkpoints and the loop (entry point: :mod:`lead_ir.train`)."""
