# Two-command quickstart: `make demo` and `make test`.
# TORCH_SPEC is installed first when the virtual environment has no torch, so that
# no resolver pulls a multi-GB CUDA build by accident. Override it for a GPU machine,
# e.g. `make test TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"`.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev,pid,text
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.dmil-installed
PYTEST_ARGS ?=

.PHONY: demo test install lint clean bench

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install --quiet $(TORCH_SPEC)
	$(PIP) install --quiet -e ".[$(EXTRAS)]"
	@touch $(STAMP)

install: $(STAMP)

DEMO_OUT ?= runs/demo

# dmil run on the embedded synthetic-mixed: interactions, ensemble / joint / mlb / dmil,
# the per-type accuracy and DMIL's gate, written to $(DEMO_OUT)/report.html.
demo: $(STAMP)
	$(VENV)/bin/dmil run --out $(DEMO_OUT) --overwrite

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

BENCH_OUT ?= benchmarks/results

bench: $(STAMP)
	mkdir -p $(BENCH_OUT)
	$(PY) benchmarks/bench_data_loading.py --out $(BENCH_OUT)/data_loading.json
	$(PY) benchmarks/bench_estimator.py --out $(BENCH_OUT)/estimator_speed.json
	$(PY) benchmarks/bench_estimator_fidelity.py --out $(BENCH_OUT)/estimator_fidelity.json
	$(PY) benchmarks/bench_estimator_mixed.py --out $(BENCH_OUT)/estimator_mixed.json
	$(PY) benchmarks/bench_estimator_scale.py --out $(BENCH_OUT)/estimator_scale.json
	$(VENV)/bin/dmil bench --suite all --seeds 5 --out $(BENCH_OUT)/bench
	$(PY) benchmarks/bench_paradigms_throughput.py --datasets synthetic-mixed,av-digits \
		--epochs 3 --repeats 3 --out $(BENCH_OUT)/throughput.json
	$(PY) benchmarks/bench_dmil_cost.py --datasets synthetic-mixed,ccv,tcga-brca \
		--epochs 10 --repeats 3 --out $(BENCH_OUT)/dmil_cost.json
	for ds in synthetic-mixed ccv tcga-brca; do \
		$(PY) benchmarks/bench_dmil_step_ops.py --dataset $$ds \
			--out $(BENCH_OUT)/dmil_step_ops_$$ds.json || exit 1; done

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
