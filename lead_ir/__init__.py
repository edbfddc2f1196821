"""lead_ir: LEAD layer-wise distillation of dense retrievers, Pyserini search, ranx evaluation.

Importing the package has no side effects; Pyserini (and the JVM) load only through
:mod:`lead_ir.jvm`, on first use.
"""

__version__ = "0.1.0"
