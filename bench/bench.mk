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
