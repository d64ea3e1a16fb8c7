# fuzz/unwind/unwind.mk — fuzzing the walker (core/profcore_unwind.h); the
# harness and its oracles are described in fuzz/unwind/harness.c.
#
#   fuzz-unwind-replay     the committed corpus, once, ASan+UBSan, gcc    (make test)
#   fuzz-unwind-libfuzzer  libFuzzer from the corpus, FUZZ_UNWIND_SECONDS (10)
#   fuzz-unwind-afl        AFL++ (persistent, UBSan), FUZZ_UNWIND_SECONDS
#   fuzz-unwind-mutants    every walker mutant (fuzz/unwind/mutants) must be killed
#                          within FUZZ_UNWIND_MUTANT_SECONDS (30) starting from the corpus;
#                          the kill must reproduce on the mutant and pass on the real walker
#   fuzz-unwind-mutants-scratch   the same from an EMPTY corpus (measures the fuzzer)
# The corpus holds a minimised libFuzzer corpus plus each mutant's kill
# input (kills-NAME), so the replay also pins those.
FUZZ_UNWIND := $(BUILD)/fuzz-unwind
FUZZ_UNWIND_SRC := fuzz/unwind/harness.c fuzz/unwind/harness.h core/profcore_unwind.h
FUZZ_UNWIND_CORPUS := fuzz/unwind/corpus
FUZZ_UNWIND_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_UNWIND_SECONDS ?= 10
FUZZ_UNWIND_MUTANT_SECONDS ?= 30
FUZZ_UNWIND_MUTANTS := $(sort $(basename $(notdir $(wildcard fuzz/unwind/mutants/*.mut))))
FUZZ_UNWIND_MUTANT_BINS := $(foreach m,$(FUZZ_UNWIND_MUTANTS),$(FUZZ_UNWIND)/mutants/$(m)/libfuzzer)

$(FUZZ_UNWIND)/replay: fuzz/unwind/replay.c $(FUZZ_UNWIND_SRC) | $(BUILD)/.dir
	@mkdir -p $(@D)
	gcc $(WARN) -D_DEFAULT_SOURCE -O1 -g $(FUZZ_UNWIND_SAN) $(CORE_INC) fuzz/unwind/harness.c fuzz/unwind/replay.c -o $@
$(FUZZ_UNWIND)/libfuzzer: fuzz/unwind/libfuzzer.c $(FUZZ_UNWIND_SRC) | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CLANG) $(WARN) -O1 -g -fsanitize=fuzzer $(FUZZ_UNWIND_SAN) $(CORE_INC) fuzz/unwind/harness.c fuzz/unwind/libfuzzer.c -o $@
# AFL++: UBSan only, like the core's (ASan and AFL's memory limit do not mix).
$(FUZZ_UNWIND)/afl: fuzz/unwind/afl.c $(FUZZ_UNWIND_SRC) | $(BUILD)/.dir
	@mkdir -p $(@D)
	AFL_QUIET=1 AFL_USE_UBSAN=1 afl-clang-fast $(WARN) -Wno-unused-parameter -O2 -g $(CORE_INC) fuzz/unwind/harness.c fuzz/unwind/afl.c -o $@
# Mutants: a copy of the walker with one bug put back (fuzz/apply-mutant).
$(FUZZ_UNWIND)/mutants/%/profcore_unwind.h: fuzz/unwind/mutants/%.mut core/profcore_unwind.h fuzz/apply-mutant
	@mkdir -p $(@D)
	fuzz/apply-mutant $< core/profcore_unwind.h $@
$(FUZZ_UNWIND)/mutants/%/libfuzzer: $(FUZZ_UNWIND)/mutants/%/profcore_unwind.h fuzz/unwind/libfuzzer.c fuzz/unwind/harness.c fuzz/unwind/harness.h
	$(CLANG) $(WARN) -Wno-unused-function -O1 -g -fsanitize=fuzzer $(FUZZ_UNWIND_SAN) -I$(@D) fuzz/unwind/harness.c fuzz/unwind/libfuzzer.c -o $@

ALL_TARGETS += $(FUZZ_UNWIND)/replay
TEST_SUITES += fuzz-unwind-replay
FUZZ_SUITES += fuzz-unwind-libfuzzer fuzz-unwind-afl fuzz-unwind-mutants
DEPS_PACKAGES += gcc clang libclang-rt-14-dev afl++ perl

.PHONY: fuzz-unwind-replay fuzz-unwind-libfuzzer fuzz-unwind-afl fuzz-unwind-mutants fuzz-unwind-mutants-scratch \
        suite-fuzz-unwind-replay suite-fuzz-unwind-libfuzzer suite-fuzz-unwind-afl suite-fuzz-unwind-mutants
fuzz-unwind-replay: $(FUZZ_UNWIND)/replay
	$(FUZZ_UNWIND)/replay $(FUZZ_UNWIND_CORPUS)
fuzz-unwind-libfuzzer: $(FUZZ_UNWIND)/libfuzzer
	fuzz/fuzz-run libfuzzer $< $(FUZZ_UNWIND_SECONDS) $(FUZZ_UNWIND_CORPUS) $(FUZZ_UNWIND)/run-libfuzzer
fuzz-unwind-afl: $(FUZZ_UNWIND)/afl
	fuzz/fuzz-run afl $< $(FUZZ_UNWIND_SECONDS) $(FUZZ_UNWIND_CORPUS) $(FUZZ_UNWIND)/run-afl
fuzz-unwind-mutants: $(FUZZ_UNWIND)/libfuzzer $(FUZZ_UNWIND_MUTANT_BINS)
	fuzz/fuzz-run mutants $(FUZZ_UNWIND_MUTANT_SECONDS) $(FUZZ_UNWIND_CORPUS) $(FUZZ_UNWIND)/run-mutants $^
fuzz-unwind-mutants-scratch: $(FUZZ_UNWIND)/libfuzzer $(FUZZ_UNWIND_MUTANT_BINS)
	fuzz/fuzz-run mutants $(FUZZ_UNWIND_MUTANT_SECONDS) none $(FUZZ_UNWIND)/run-mutants-scratch $^

suite-fuzz-unwind-replay:
	@$(RUN_SUITE) fuzz-unwind-replay $(MAKE) --no-print-directory fuzz-unwind-replay
suite-fuzz-unwind-libfuzzer:
	@$(RUN_SUITE) fuzz-unwind-libfuzzer $(MAKE) --no-print-directory fuzz-unwind-libfuzzer
suite-fuzz-unwind-afl:
	@$(RUN_SUITE) fuzz-unwind-afl $(MAKE) --no-print-directory fuzz-unwind-afl
suite-fuzz-unwind-mutants:
	@$(RUN_SUITE) fuzz-unwind-mutants $(MAKE) --no-print-directory fuzz-unwind-mutants
