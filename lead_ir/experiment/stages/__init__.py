"""The bodies of the study's stages, one small module each; :mod:`lead_ir.experiment.study` plans them.

Each stage body is a plain function ``(study, out, ...) -> outputs``: it reads what earlier stages wrote through
``study.input`` (their manifests' ``outputs``), writes into its own folder ``out`` and returns the ``outputs``
entry of its manifest (file and folder names relative to ``out``, counts, figures). Heavy libraries are imported
inside the functions, so planning a study imports none of them.

- :mod:`.bm25`: the Lucene index, the training/dev and the test BM25 runs
- :mod:`.split`: train/dev (and test) topics and qrels
- :mod:`.dev_pool`: the corpus training-time dev evaluation searches
- :mod:`.mine`: hard negatives of the training queries; unlabeled queries with candidates
- :mod:`.train`: a teacher's warm-up or an arm's student
- :mod:`.encode`: a dense row's FAISS index (sharded under torchrun)
- :mod:`.dense`: a dense row's dev and test runs
- :mod:`.costs`: model size, index size, query latency, encoding throughput
- :mod:`.hybrid`: BM25 fused with the arm that is best on dev
- :mod:`.leaderboard`: the tables, the results folder
"""
