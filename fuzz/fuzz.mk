# fuzz/fuzz.mk — the signal-interleaving fuzzer (see fuzz/README.md).
#
#   make fuzz-replay      corpus + named regressions, ASan+UBSan, $(CC)  (make test)
#   make fuzz             replay, libFuzzer 60 s, AFL++ 60 s, mutants      (make check)
#   make fuzz-long        FUZZ_LONG_SECONDS (default 3600) of libFuzzer and AFL++ on both cores
#   make fuzz-mutants     every mutant must be killed within FUZZ_MUTANT_SECONDS (60)
#   make fuzz-mutants-scratch   the same from an EMPTY corpus (measures the fuzzer itself)
#   make fuzz-coverage    line/branch coverage of core/profcore.h reached by the corpus
#   make fuzz-merge       minimise fresh findings under $(BUILD)/fuzz/long into fuzz/corpus
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_SRC := fuzz/harness.c fuzz/harness.h
FUZZ_CORPUS := fuzz/corpus
FUZZ_REGRESSIONS := fuzz/regressions
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS = $(WARN) -O1 -g $(FUZZ_SAN)
FUZZ_SECONDS ?= 60
FUZZ_MUTANT_SECONDS ?= 60
FUZZ_LONG_SECONDS ?= 3600
FUZZ_MUTANTS := $(sort $(basename $(notdir $(wildcard fuzz/mutants/*.mut))))
FUZZ_MUTANT_BINS := $(foreach m,$(FUZZ_MUTANTS),$(FUZZ_DIR)/mutants/$(m)/libfuzzer)

# Replay driver: $(CC), so `make CC=clang` covers both compilers.
$(FUZZ_DIR)/replay: fuzz/replay.c $(FUZZ_SRC) core/profcore.h | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CC) $(FUZZ_CFLAGS) $(CORE_INC) fuzz/harness.c fuzz/replay.c -o $@

$(FUZZ_DIR)/libfuzzer: fuzz/libfuzzer.c $(FUZZ_SRC) core/profcore.h | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CLANG) $(WARN) -O1 -g -fsanitize=fuzzer $(FUZZ_SAN) $(CORE_INC) fuzz/harness.c fuzz/libfuzzer.c -o $@

# AFL++: persistent mode, UBSan only (ASan's shadow memory and AFL's memory
# limit do not mix well and it halves the speed; libFuzzer runs with ASan).
$(FUZZ_DIR)/afl: fuzz/afl.c $(FUZZ_SRC) core/profcore.h | $(BUILD)/.dir
	@mkdir -p $(@D)
	AFL_QUIET=1 AFL_USE_UBSAN=1 afl-clang-fast $(WARN) -Wno-unused-parameter -O2 -g $(CORE_INC) fuzz/harness.c fuzz/afl.c -o $@

# Mutants: a temporary copy of the core with one bug put back in.
$(FUZZ_DIR)/mutants/%/profcore.h: fuzz/mutants/%.mut core/profcore.h fuzz/apply-mutant
	@mkdir -p $(@D)
	fuzz/apply-mutant $< core/profcore.h $@
$(FUZZ_DIR)/mutants/%/libfuzzer: $(FUZZ_DIR)/mutants/%/profcore.h fuzz/libfuzzer.c $(FUZZ_SRC)
	$(CLANG) $(WARN) -Wno-unused-function -O1 -g -fsanitize=fuzzer $(FUZZ_SAN) -I$(@D) fuzz/harness.c fuzz/libfuzzer.c -o $@

# Coverage build: no sanitizers, clang source-based coverage.
$(FUZZ_DIR)/replay-cov: fuzz/replay.c $(FUZZ_SRC) core/profcore.h | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CLANG) $(WARN) -O0 -g -fprofile-instr-generate -fcoverage-mapping $(CORE_INC) fuzz/harness.c fuzz/replay.c -o $@

ALL_TARGETS += $(FUZZ_DIR)/replay
TEST_SUITES += fuzz-replay
FUZZ_SUITES += fuzz-libfuzzer fuzz-afl fuzz-mutants
DEPS_PACKAGES += clang llvm-14 libclang-rt-14-dev afl++ perl

.PHONY: fuzz-replay fuzz-libfuzzer fuzz-afl fuzz-mutants fuzz-mutants-scratch fuzz-long \
        fuzz-coverage fuzz-merge suite-fuzz-replay suite-fuzz-libfuzzer suite-fuzz-afl suite-fuzz-mutants
fuzz-replay: $(FUZZ_DIR)/replay
	$(FUZZ_DIR)/replay -q $(FUZZ_CORPUS) $(FUZZ_REGRESSIONS)
fuzz-libfuzzer: $(FUZZ_DIR)/libfuzzer
	fuzz/fuzz-run libfuzzer $< $(FUZZ_SECONDS) $(FUZZ_CORPUS) $(FUZZ_DIR)/run-libfuzzer
fuzz-afl: $(FUZZ_DIR)/afl
	fuzz/fuzz-run afl $< $(FUZZ_SECONDS) $(FUZZ_CORPUS) $(FUZZ_DIR)/run-afl
fuzz-mutants: $(FUZZ_DIR)/libfuzzer $(FUZZ_MUTANT_BINS)
	fuzz/fuzz-run mutants $(FUZZ_MUTANT_SECONDS) $(FUZZ_CORPUS) $(FUZZ_DIR)/run-mutants $^
fuzz-mutants-scratch: $(FUZZ_DIR)/libfuzzer $(FUZZ_MUTANT_BINS)
	fuzz/fuzz-run mutants $(FUZZ_MUTANT_SECONDS) none $(FUZZ_DIR)/run-mutants-scratch $^

suite-fuzz-replay:
	@$(RUN_SUITE) fuzz-replay $(MAKE) --no-print-directory fuzz-replay
suite-fuzz-libfuzzer:
	@$(RUN_SUITE) fuzz-libfuzzer $(MAKE) --no-print-directory fuzz-libfuzzer
suite-fuzz-afl:
	@$(RUN_SUITE) fuzz-afl $(MAKE) --no-print-directory fuzz-afl
suite-fuzz-mutants:
	@$(RUN_SUITE) fuzz-mutants $(MAKE) --no-print-directory fuzz-mutants

# A longer campaign: libFuzzer and AFL++ side by side, findings kept under
# $(FUZZ_DIR)/long (crashes: long/lf-artifacts, long/afl/default/crashes).
fuzz-long: $(FUZZ_DIR)/libfuzzer $(FUZZ_DIR)/afl
	@mkdir -p $(FUZZ_DIR)/long/lf-corpus $(FUZZ_DIR)/long/lf-artifacts
	( nice $(FUZZ_DIR)/libfuzzer -timeout=20 -max_len=1024 -max_total_time=$(FUZZ_LONG_SECONDS) \
	    -artifact_prefix=$(FUZZ_DIR)/long/lf-artifacts/ $(FUZZ_DIR)/long/lf-corpus $(FUZZ_CORPUS) \
	    > $(FUZZ_DIR)/long/libfuzzer.log 2>&1; echo "libfuzzer exit $$?" ) & \
	AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1 \
	    nice afl-fuzz -i $(FUZZ_CORPUS) -o $(FUZZ_DIR)/long/afl -V $(FUZZ_LONG_SECONDS) -t 5000 \
	    -- $(FUZZ_DIR)/afl > $(FUZZ_DIR)/long/afl.log 2>&1; echo "afl exit $$?"; wait
	@ls $(FUZZ_DIR)/long/lf-artifacts $(FUZZ_DIR)/long/afl/default/crashes $(FUZZ_DIR)/long/afl/default/hangs

# Fold a long campaign's corpus into the committed one, keeping only inputs
# that add coverage.
fuzz-merge: $(FUZZ_DIR)/libfuzzer
	$(FUZZ_DIR)/libfuzzer -merge=1 -max_len=1024 $(FUZZ_CORPUS) $(FUZZ_DIR)/long/lf-corpus \
	    $(wildcard $(FUZZ_DIR)/long/afl/default/queue)

fuzz-coverage: $(FUZZ_DIR)/replay-cov
	@rm -rf $(FUZZ_DIR)/cov && mkdir -p $(FUZZ_DIR)/cov
	LLVM_PROFILE_FILE=$(FUZZ_DIR)/cov/replay.profraw $(FUZZ_DIR)/replay-cov -q $(FUZZ_CORPUS) $(FUZZ_REGRESSIONS)
	llvm-profdata-14 merge -o $(FUZZ_DIR)/cov/replay.profdata $(FUZZ_DIR)/cov/replay.profraw
	llvm-cov-14 report $(FUZZ_DIR)/replay-cov -instr-profile=$(FUZZ_DIR)/cov/replay.profdata \
	    -show-branch-summary core/profcore.h
	llvm-cov-14 show $(FUZZ_DIR)/replay-cov -instr-profile=$(FUZZ_DIR)/cov/replay.profdata \
	    -show-branches=count -show-line-counts-or-regions core/profcore.h > $(FUZZ_DIR)/cov/profcore.h.txt
	@echo "annotated source: $(FUZZ_DIR)/cov/profcore.h.txt (lines with 0 count are unreached)"
