# tests/tests.mk — the core's unit tests and the real-signal stress test.
#
# core-unit-gcc / core-unit-clang: tests/unit/core_test.c under
#   ASan+UBSan (no recovery: any report fails the suite).
# core-stress / core-stress-asan / core-stress-tsan: tests/stress/core_stress.c,
#   real SIGPROF/SIGUSR1/SIGUSR2 storms; STRESS_SECONDS sets the run length.

TESTS_OUT := $(BUILD)/tests
TESTS_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
TESTS_UNIT_FLAGS := $(WARN) -D_GNU_SOURCE -O1 -g $(CORE_INC) -Itests/unit $(TESTS_SAN)
TESTS_STRESS_FLAGS := $(WARN) -D_GNU_SOURCE -g $(CORE_INC) -pthread
STRESS_SECONDS ?= 3

TESTS_UNIT_DEPS := tests/unit/core_test.c tests/unit/check.h core/profcore.h
TESTS_STRESS_DEPS := tests/stress/core_stress.c core/profcore.h

$(TESTS_OUT)/core_test-gcc: $(TESTS_UNIT_DEPS)
	@mkdir -p $(@D)
	gcc $(TESTS_UNIT_FLAGS) -o $@ $<
$(TESTS_OUT)/core_test-clang: $(TESTS_UNIT_DEPS)
	@mkdir -p $(@D)
	$(CLANG) $(TESTS_UNIT_FLAGS) -o $@ $<

$(TESTS_OUT)/core_stress: $(TESTS_STRESS_DEPS)
	@mkdir -p $(@D)
	$(CC) $(TESTS_STRESS_FLAGS) -O2 -o $@ $<
$(TESTS_OUT)/core_stress-asan: $(TESTS_STRESS_DEPS)
	@mkdir -p $(@D)
	$(CC) $(TESTS_STRESS_FLAGS) -O1 $(TESTS_SAN) -o $@ $<
# TSan with clang: gcc 12's libtsan works too, but clang's runtime is the
# one the other sanitizer builds here already depend on.
$(TESTS_OUT)/core_stress-tsan: $(TESTS_STRESS_DEPS)
	@mkdir -p $(@D)
	$(CLANG) $(TESTS_STRESS_FLAGS) -O1 -fsanitize=thread -o $@ $<

TESTS_BINS := $(TESTS_OUT)/core_test-gcc $(TESTS_OUT)/core_test-clang $(TESTS_OUT)/core_stress \
              $(TESTS_OUT)/core_stress-asan $(TESTS_OUT)/core_stress-tsan
ALL_TARGETS += $(TESTS_BINS)
TEST_SUITES += core-unit-gcc core-unit-clang core-stress core-stress-asan core-stress-tsan
DEPS_PACKAGES += gcc clang libclang-rt-14-dev

# Sanitizer options: abort on the first report so the suite fails loudly.
TESTS_ASAN_ENV := ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# No report_signal_unsafe=0: the handlers call only the core, raise() and
# errno, and TSan reports nothing about them.
TESTS_TSAN_ENV := TSAN_OPTIONS=halt_on_error=1

.PHONY: suite-core-unit-gcc suite-core-unit-clang suite-core-stress suite-core-stress-asan suite-core-stress-tsan
suite-core-unit-gcc: $(TESTS_OUT)/core_test-gcc
	@$(RUN_SUITE) core-unit-gcc env $(TESTS_ASAN_ENV) $<
suite-core-unit-clang: $(TESTS_OUT)/core_test-clang
	@$(RUN_SUITE) core-unit-clang env $(TESTS_ASAN_ENV) $<
suite-core-stress: $(TESTS_OUT)/core_stress
	@$(RUN_SUITE) core-stress $< $(STRESS_SECONDS)
suite-core-stress-asan: $(TESTS_OUT)/core_stress-asan
	@$(RUN_SUITE) core-stress-asan env $(TESTS_ASAN_ENV) $< $(STRESS_SECONDS)
suite-core-stress-tsan: $(TESTS_OUT)/core_stress-tsan
	@$(RUN_SUITE) core-stress-tsan env $(TESTS_TSAN_ENV) $< $(STRESS_SECONDS)
