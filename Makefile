# carehaven: `make demo` and `make test` are the whole set-up. Both bootstrap uv (with pip, when
# it is missing) and the locked environment (uv sync) before they run.
# uv if it is on PATH, else the copy pip installs for this python3 (wherever pip puts it).
UV ?= $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PYTEST_ARGS ?=
GOVUK_DIST := node_modules/govuk-frontend/dist/govuk
GOVUK_OUT := src/carehaven/web/static/govuk
# Let child processes (the CLI under test) reuse compiled bytecode instead of recompiling.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test lint typecheck bench docs env clean

env:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --frozen --quiet
	@# Bytecode for every installed module, once per lock: where PYTHONDONTWRITEBYTECODE is
	@# set (as on CI machines) each command would otherwise recompile SQLAlchemy, Ibis, pandas
	@# ... from source at every start, seconds per process (issue 13 item 8, docs/benchmarks.md).
	@test .venv/.bytecode -nt uv.lock 2>/dev/null || { $(UV) run python -m compileall -q -j0 \
	    .venv/lib >/dev/null 2>&1; touch .venv/.bytecode; }
	@# The web portal's GOV.UK Frontend, from the npm lock file, served by carehaven itself: no
	@# asset comes from the internet at run time (issue 14 part 1). Its CSS names /assets/...,
	@# which the copy rewrites to where the portal serves them.
	@test node_modules/.package-lock.json -nt package-lock.json 2>/dev/null || npm ci --silent
	@test $(GOVUK_OUT)/govuk-frontend.min.css -nt package-lock.json 2>/dev/null || { \
	    rm -rf $(GOVUK_OUT) && mkdir -p $(GOVUK_OUT) && \
	    cp -R $(GOVUK_DIST)/assets $(GOVUK_DIST)/govuk-frontend.min.js $(GOVUK_OUT)/ && \
	    sed 's#url(/assets/#url(/static/govuk/assets/#g' $(GOVUK_DIST)/govuk-frontend.min.css \
	        > $(GOVUK_OUT)/govuk-frontend.min.css; }

demo: env
	$(UV) run carehaven demo

test: env
	$(UV) run ruff check src tests benchmarks
	$(UV) run mypy
	$(UV) run pytest $(PYTEST_ARGS)

lint: env
	$(UV) run ruff check src tests benchmarks

typecheck: env
	$(UV) run mypy

docs: env
	$(UV) run python -m carehaven.cli.reference > docs/cli.md

bench: env
	$(UV) run python benchmarks/bench_submit.py

clean:
	rm -rf haven-demo haven-demo-returns node_modules $(GOVUK_OUT) .pytest_cache .mypy_cache .ruff_cache
