# accelgen: the two commands are `make run` and `make test`; both create .venv when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# `make sweep -j4` runs four sweep points at a time.
JOBS   ?= $(or $(patsubst -j%,%,$(filter -j%,$(MAKEFLAGS))),1)

DESIGN ?= systolic
SWEEP  ?= rows=2,4,8 cols=2,4,8
TARGET ?= generic

.PHONY: run test install lint bench bench-compare soak sweep sweep-tpe formal clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

install: $(STAMP)

## Generate every design's default configuration, verify it, synthesize it: out/REPORT.md
run: $(STAMP)
	$(BIN)/accelgen list
	$(BIN)/accelgen report -o out

## The whole test suite (unit tests, cocotb regressions on Verilator, lint, synthesis)
test: $(STAMP)
	$(BIN)/python -m pytest -n auto

## Verilator --lint-only -Wall over every registered design (documented waivers only)
lint: $(STAMP)
	$(BIN)/accelgen lint

## Throughput, utilization, error and synthesis figures: bench/<section>.json and BENCHMARKS.md
## (`make bench ONLY=systolic` re-measures one section and keeps the others)
bench: $(STAMP)
	$(BIN)/python -m accelgen.sim.bench $(if $(ONLY),--only $(ONLY))

## >= 10^5 beats through every design with random stalls and backpressure, all checked: bench/soak.json
soak: $(STAMP)
	$(BIN)/python -m accelgen.sim.bench --only soak

## Formal proofs (SymbiYosys from PyPI: yowasp-sby + yices): stream contracts of every family,
## PIM timing rules per preset, carry-save MAC equivalence; each with a mutant that must fail.
## Writes bench/formal.json and the BENCHMARKS.md section (`make formal ONLY=name,name` for some).
formal: $(STAMP)
	$(BIN)/python -m accelgen.sim.formal $(if $(ONLY),--only $(ONLY),--all)

## make bench-compare HPTE=<your checkout of wqzustc/High-Performance-Tensor-Processing-Engines>
##   [SIDE=both|paper|accelgen] [ONLY=os_mac4,opt2_n4,...]: its RTL and accelgen's equivalents through
## the same flows, placed and timed (ECP5 -nodsp, seeds 1-3) -> bench/tpe_compare.{json,md}; each side
## cached in bench/tpe_compare_{paper,accelgen}.json (SIDE=accelgen re-measures accelgen's side only)
bench-compare: $(STAMP)
	@test -n "$(HPTE)" || { echo "usage: make bench-compare HPTE=<path of your checkout>"; exit 2; }
	$(BIN)/python -m accelgen.sim.bench.tpe_compare --hpte "$(HPTE)" --workers 1 \
		$(if $(SIDE),--side $(SIDE)) $(if $(ONLY),--only $(ONLY))

## make sweep-tpe [SIZES=2,4,8] [TARGET=ecp5]: engines x MAC styles x sizes -> out/sweep_tpe/{sweep.csv,pareto.png}
SIZES ?= 2,4,8
sweep-tpe: $(STAMP)
	$(BIN)/python -m accelgen.sim.bench.tpe_sweep --sizes $(SIZES) --target $(TARGET)

## make sweep DESIGN=systolic SWEEP="rows=2,4,8 cols=2,4,8" [TARGET=ecp5] [-j4]: out/sweep_DESIGN/sweep.csv
## (Dask: BACKEND=dask [ADDRESS=tcp://host:8786 | CLUSTER=slurm]; SWEEP_ARGS="--retries 1 --timeout 3600 ...")
sweep: $(STAMP)
	$(BIN)/accelgen sweep $(DESIGN) --sweep "$(SWEEP)" --target $(TARGET) -j $(JOBS) \
		$(if $(BACKEND),--backend $(BACKEND)) $(if $(ADDRESS),--address $(ADDRESS)) \
		$(if $(CLUSTER),--cluster $(CLUSTER)) $(SWEEP_ARGS)

clean:
	rm -rf build out bench/*/ .pytest_cache
