# bench/ — the core microbenchmark (`make bench-core`, part of `make bench`)
# and its smoke suite (bench-core-smoke, part of `make test`).
#
# The benchmark binary is built per compiler, under $(BUILD)/bench/<name>/,
# where <name> is the compiler's file name: `make CC=clang bench-core` and
# the gcc+clang README run never overwrite each other's binaries.

# -gdwarf-4: valgrind 3.19 (Debian 12) cannot read clang 14's default DWARF 5.
BENCH_CFLAGS := $(WARN) -O2 -gdwarf-4 -D_GNU_SOURCE $(CORE_INC) -pthread
BENCH_CC_NAME := $(notdir $(firstword $(CC)))
BENCH_CLANG_NAME := $(notdir $(firstword $(CLANG)))
BENCH_CORE_BIN := $(BUILD)/bench/$(BENCH_CC_NAME)/core-bench
BENCH_CORE_SRC := bench/core_bench.c bench/core_impl.c
# The compiler a binary directory stands for: $(CC), $(CLANG), or the name itself.
bench_compiler = $(if $(filter $(1),$(BENCH_CC_NAME)),$(CC),$(if $(filter $(1),$(BENCH_CLANG_NAME)),$(CLANG),$(1)))

$(BUILD)/bench/%/core-bench: $(BENCH_CORE_SRC) core/profcore.h bench/bench.mk | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(call bench_compiler,$*) $(BENCH_CFLAGS) $(BENCH_CORE_SRC) -o $@

ALL_TARGETS += $(BENCH_CORE_BIN)
BENCH_TARGETS += bench-core
TEST_SUITES += bench-core-smoke
DEPS_PACKAGES += valgrind

.PHONY: bench-core bench-core-readme suite-bench-core-smoke
# ns/op and callgrind instructions/op for $(CC); writes $(BUILD)/bench/core.csv.
bench-core: $(BENCH_CORE_BIN)
	bench/core-run.sh $(BENCH_CORE_BIN) $(BENCH_CC_NAME) $(BUILD)/bench/core.csv

# gcc and clang, then regenerates the results section of bench/README.md.
bench-core-readme: $(BUILD)/bench/gcc/core-bench $(BUILD)/bench/$(BENCH_CLANG_NAME)/core-bench
	bench/core-readme.sh $(BUILD)/bench/gcc/core-bench $(BUILD)/bench/$(BENCH_CLANG_NAME)/core-bench $(BUILD)/bench

# Tiny settings (about two seconds): every scenario ran, was verified, and
# produced sane non-zero numbers.  Times are never asserted.
suite-bench-core-smoke: $(BENCH_CORE_BIN)
	@$(RUN_SUITE) bench-core-smoke bench/core-smoke.sh $(BENCH_CORE_BIN) $(BUILD)/bench/smoke.csv

# ---- end to end: profcore against gperftools and perf (issue 7) -------------
# bench/workload.c is the program every profiler profiles (one binary for all
# rows; it dlopen()s libprofcore.so when asked, so it builds without the
# runtime).  e2e_run.py runs it, e2e_report.py writes RESULTS.md + plots.
#   make bench          core bench, then the full e2e run (~15-20 min):
#                       rewrites bench/RESULTS.md and bench/results/
#   make bench-quick    core smoke + a short e2e (< 3 min): $(BUILD)/bench/quick/
#   make bench-e2e-only the full e2e run without re-running the core bench
# Not nice'd on purpose: overhead is measured against an unprofiled run.
BENCH_E2E_ARCH := $(shell uname -m)
BENCH_E2E_FP := -fno-omit-frame-pointer $(if $(filter x86_64,$(BENCH_E2E_ARCH)),-mno-omit-leaf-frame-pointer)
BENCH_WORKLOAD := $(BUILD)/bench/workload
BENCH_PROFCORE_SO := $(BUILD)/profiler/libprofcore.so
BENCH_E2E_PY := bench/e2e_run.py bench/e2e_report.py bench/e2e_profiles.py

$(BENCH_WORKLOAD): bench/workload.c profiler/include/profcore_profiler.h bench/bench.mk | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 -g $(BENCH_E2E_FP) -D_GNU_SOURCE -Iprofiler/include -pthread $< -o $@ -ldl

ALL_TARGETS += $(BENCH_WORKLOAD)
BENCH_TARGETS += bench-e2e
TEST_SUITES += bench-e2e-smoke
DEPS_PACKAGES += google-perftools libgoogle-perftools-dev linux-perf gnuplot golang-go python3

# The profcore rows need the runtime; if it does not build, they are reported
# as "not yet: runtime missing" rather than stopping the peers' rows.
bench_e2e_try_runtime = -@$(MAKE) --no-print-directory $(BENCH_PROFCORE_SO) >/dev/null 2>&1 || \
	echo "bench-e2e: $(BENCH_PROFCORE_SO) does not build: profcore rows will say so"

.PHONY: bench-e2e bench-e2e-only bench-quick suite-bench-e2e-smoke
bench-e2e: bench-core
	@$(MAKE) --no-print-directory bench-e2e-only

bench-e2e-only: $(BENCH_WORKLOAD) $(BENCH_E2E_PY)
	$(bench_e2e_try_runtime)
	python3 bench/e2e_run.py --workload $(BENCH_WORKLOAD) --profcore-lib $(BENCH_PROFCORE_SO) \
	    --preset full --out $(BUILD)/bench/e2e
	python3 bench/e2e_report.py --runs $(BUILD)/bench/e2e --core-csv $(BUILD)/bench/core.csv \
	    --results-md bench/RESULTS.md --plots bench/results

bench-quick: $(BENCH_CORE_BIN) $(BENCH_WORKLOAD) $(BENCH_E2E_PY)
	$(bench_e2e_try_runtime)
	@mkdir -p $(BUILD)/bench/quick
	bench/core-run.sh $(BENCH_CORE_BIN) $(BENCH_CC_NAME) $(BUILD)/bench/quick/core.csv --smoke >/dev/null
	python3 bench/e2e_run.py --workload $(BENCH_WORKLOAD) --profcore-lib $(BENCH_PROFCORE_SO) \
	    --preset quick --out $(BUILD)/bench/quick/e2e
	python3 bench/e2e_report.py --runs $(BUILD)/bench/quick/e2e --core-csv $(BUILD)/bench/quick/core.csv \
	    --results-md $(BUILD)/bench/quick/RESULTS.md --plots $(BUILD)/bench/quick/results

# Tiny settings, every profiler; prints which it exercised.  It depends on
# the runtime (PROF_LIB_SO, from profiler/profiler.mk) so that a runtime that
# does not build fails this suite instead of silently dropping profcore's
# rows.  Uses the core CSV of the bench-core-smoke suite when it is there.
suite-bench-e2e-smoke: $(BENCH_WORKLOAD) $(BENCH_E2E_PY) bench/e2e_smoke.py $(PROF_LIB_SO)
	@$(RUN_SUITE) bench-e2e-smoke python3 bench/e2e_smoke.py --workload $(BENCH_WORKLOAD) \
	    --profcore-lib $(BENCH_PROFCORE_SO) --core-csv $(BUILD)/bench/smoke.csv --out $(BUILD)/bench/e2e-smoke
