# Daily entry points; CI (.ci/run) builds a wheel and runs the same test command.
PYTHON ?= python3

.PHONY: dev test lint bench ci

dev:  ## editable install with a fixed build dir (C and Cython edits rebuild on import)
	$(PYTHON) -m pip install scikit-build-core cython cython-cmake ninja numpy \
		scipy-openblas32 threadpoolctl pytest hypothesis \
		"atheris>=2.3; sys_platform == 'linux' and platform_machine == 'x86_64'"
	$(PYTHON) -m pip install --no-build-isolation -e . -Ceditable.rebuild=true

test:
	$(PYTHON) -m pytest

lint:
	pre-commit run --all-files

bench:
	$(PYTHON) benches/bench_rnn.py

ci:
	bash .ci/run
