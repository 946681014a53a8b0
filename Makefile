# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs curate (editable, with its test extras) when missing,
# with the library versions pinned in constraints.txt (the versions the suite passed with).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.curate-installed
DEMO_OUT ?= demo_out

.PHONY: demo demo-quick test test-fast clean-venv

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/curate demo --out $(DEMO_OUT)

demo-quick: $(STAMP)
	$(VENV)/bin/curate demo --out $(DEMO_OUT) --quick

test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

clean-venv:
	rm -rf $(VENV)
