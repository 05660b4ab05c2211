# hpbench — `make bench` and `make test` do all of their own set-up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# the CPU build of torch that lies on this machine's disk; an unpinned torch pulls CUDA
TORCH_PIN ?= torch==2.13.0
OUT    ?= results/default
WORKERS ?= 2
# numpy's AVX-512 kernels off: the same floats on every machine (hpbench/_numerics.py)
export NPY_DISABLE_CPU_FEATURES ?= X86_V4 AVX512_ICL AVX512_SPR

.PHONY: install bench test lint perf figures stress nightly clean peers

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_PIN)"
	$(BIN)/python -m pip install --quiet -e ".[all,dev]" "$(TORCH_PIN)"
	touch $(STAMP)

bench: $(STAMP)
	@# exit status 3: the run finished and recorded some failed cells, which the figures show
	$(BIN)/hpbench run default --out $(OUT) --workers $(WORKERS) || [ $$? -eq 3 ]
	$(BIN)/hpbench figures $(OUT)

figures: $(STAMP)
	$(BIN)/hpbench figures $(OUT)

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadgroup

# the environments of the optimizers that run out of process (.peers/<name>/, each a venv with
# the pinned requirements of its declaration in optimizers/external/; hpbench/external.py).
# Not a prerequisite of `test`: from nothing they take longer than the tests themselves
# (docs/external-optimizers.md); `nightly` builds them and runs their conformance suite.
peers: $(STAMP)
	$(BIN)/python -m hpbench.external build

# kill -9 of `hpbench run` at 10 random moments on each backend, resumed each time (issue 27)
stress: $(STAMP)
	HPBENCH_KILL_MOMENTS=10 $(BIN)/python -m pytest tests/hpbench/test_kill_resume.py -p no:xdist -s

# the exhaustive sweeps `make test` samples: every scikit-learn task against its best-known
# value (make test: one per model family), and the kill -9 stress
nightly: $(STAMP) stress peers
	HPBENCH_FULL=1 $(BIN)/python -m pytest -n 2 tests/problems/test_sklearn_tasks.py
	HPBENCH_REQUIRE_PEERS=1 $(BIN)/python -m pytest -n 2 tests/optimizers/test_conformance.py \
		-k "hebo or dehb"

perf: $(STAMP)
	$(BIN)/python -m pytest benchmarks -p no:xdist -s --benchmark-columns=min,median,mean,rounds

clean:
	rm -rf $(VENV) .peers build *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
