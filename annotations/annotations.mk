# annotations/ — the signal-safety gate (see annotations/README.md).
#
# Four verify suites:
#   signal-gate           sigcheck passes on the real code: the core (through
#                         annotations/real/core_handler.c) and every
#                         profiler/src/*.c present, analysed as one program
#   signal-gate-fixtures  every negative fixture is rejected with exactly its
#                         expected chains, and the real code passes
#   clang-tidy-signal     clang-tidy bugprone-signal-handler on generated lint
#                         units (handlers registered with signal())
#   gcc-analyzer          gcc -fanalyzer on the same lint units
ANNOT_B := $(BUILD)/annotations
PYTHON ?= python3
ANNOT_GATE := $(PYTHON) annotations/gate.py
ANNOT_FIXTURES := $(sort $(wildcard annotations/fixtures/*.c))
ANNOT_CORE_CFLAGS := -std=c11 $(CORE_INC)
# The profiler is checked with its own build flags when its fragment defines
# them (recursive: profiler.mk may be read in any order).
# The preload library installs handlers too (exit signals, crashes): same program.
ANNOT_PROFILER_SRCS = $(sort $(wildcard profiler/src/*.c profiler/preload/*.c))
ANNOT_PROFILER_CFLAGS = $(or $(PROF_CFLAGS),-std=c11 -D_GNU_SOURCE -pthread $(CORE_INC) -Iprofiler/src -Iprofiler/include) -Iprofiler/cli
ANNOT_GROUPS = --group "core|$(ANNOT_CORE_CFLAGS)|annotations/real/core_handler.c" \
               --group "unwind|$(ANNOT_CORE_CFLAGS)|annotations/real/unwind_handler.c" \
               --group "profiler|$(ANNOT_PROFILER_CFLAGS)|$(ANNOT_PROFILER_SRCS)"

# The real handler is also a working program (a short ITIMER_PROF run that
# checks conservation), so the gate analyses code that actually runs.
$(ANNOT_B)/core_handler: annotations/real/core_handler.c core/profcore.h | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CC) $(WARN) $(OPT) $(CORE_INC) -o $@ $<
ALL_TARGETS += $(ANNOT_B)/core_handler
# ... and it runs: the suite core-handler (a test; the gate's suites are verify).
.PHONY: suite-core-handler
suite-core-handler: $(ANNOT_B)/core_handler
	@$(RUN_SUITE) core-handler $<
TEST_SUITES += core-handler

.PHONY: sigcheck suite-signal-gate suite-signal-gate-fixtures suite-clang-tidy-signal suite-gcc-analyzer
# `make sigcheck`: the checker on the real code, full output.
sigcheck:
	$(PYTHON) annotations/sigcheck.py --cflags "$(ANNOT_CORE_CFLAGS)" annotations/real/core_handler.c
	$(if $(ANNOT_PROFILER_SRCS),$(PYTHON) annotations/sigcheck.py --cflags "$(ANNOT_PROFILER_CFLAGS)" $(ANNOT_PROFILER_SRCS))

suite-signal-gate:
	@$(RUN_SUITE) signal-gate $(ANNOT_GATE) sigcheck $(ANNOT_GROUPS)
suite-signal-gate-fixtures:
	@$(RUN_SUITE) signal-gate-fixtures $(ANNOT_GATE) fixtures $(ANNOT_GROUPS) $(ANNOT_FIXTURES)
suite-clang-tidy-signal:
	@$(RUN_SUITE) clang-tidy-signal $(ANNOT_GATE) tidy --work $(ANNOT_B)/tidy $(ANNOT_GROUPS) $(ANNOT_FIXTURES)
suite-gcc-analyzer:
	@$(RUN_SUITE) gcc-analyzer $(ANNOT_GATE) analyzer --work $(ANNOT_B)/analyzer $(ANNOT_GROUPS) $(ANNOT_FIXTURES)

VERIFY_SUITES += signal-gate signal-gate-fixtures clang-tidy-signal gcc-analyzer
DEPS_PACKAGES += gcc clang clang-tidy llvm python3
