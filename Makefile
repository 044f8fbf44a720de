# One-command setup and the two entry points of the README: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export KEDRO_DISABLE_TELEMETRY := true
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export DVC_NO_ANALYTICS := 1

.PHONY: .venv demo darts-demo hpo-demo efficientnet-demo global-nas-demo ranking-study toy-study test lint benchmark viz mlflow-ui clean-data

# The environment is rebuilt when pyproject.toml changes. torch 2.14.1 and torchvision 0.29.1
# come from this machine's local wheel store through plain pip (uv/poetry would download GBs).
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[dev]" > $(VENV)/install.log 2>&1 \
		|| (grep -v "^WARNING: Location" $(VENV)/install.log | tail -40; exit 1)
	$(BIN)/python -c "import torch, torchvision, facenet_pytorch, kedro"
	touch $@

.venv: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/kedro run --pipelines=rnas_mer

darts-demo: $(VENV)/.installed
	$(BIN)/kedro run --pipelines=darts_comparison

hpo-demo: $(VENV)/.installed
	$(BIN)/kedro run --pipelines=surrogate_hpo_fer

efficientnet-demo: $(VENV)/.installed
	$(BIN)/kedro run --pipelines=efficientnet_fer

global-nas-demo: $(VENV)/.installed
	$(BIN)/kedro run --pipelines=global_nas_fer

ranking-study: $(VENV)/.installed
	$(BIN)/python -m expression_nas.studies.dynamic_ranking

toy-study: $(VENV)/.installed
	$(BIN)/python -m expression_nas.studies.toy_bilevel
	$(BIN)/python -m expression_nas.studies.toy_de_pso

test: $(VENV)/.installed
	$(BIN)/python -m pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks

benchmark: $(VENV)/.installed
	$(BIN)/python benchmarks/alignment_throughput.py
	$(BIN)/python benchmarks/rnas_search_step.py
	$(BIN)/python benchmarks/darts_search_step.py

viz: $(VENV)/.installed
	$(BIN)/python -m expression_nas.viz

mlflow-ui: $(VENV)/.installed
	@echo "runs table: http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning"
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --workers 1

clean-data:
	find data -mindepth 2 ! -name .gitkeep ! -name '*.dvc' -delete
