# tests/aarch64/aarch64.mk — aarch64 that runs: the core's tests, the stress
# test and the demo built with Debian's cross compiler and run under
# qemu-user (tests/aarch64/run.sh; docs in tests/aarch64/README.md).
#
#   aarch64-core   core unit tests (plain, ASan+UBSan), core_stress (plain,
#                  TSan), the gate's real handler and the core demo
#
# qemu's TCG runs the guest with the host's strong memory order: these
# suites check the aarch64 code paths, not weak-memory behaviour (the SPIN
# model and the proofs cover the orderings).
AARCH64_CC ?= aarch64-linux-gnu-gcc
AARCH64_SYSROOT ?= /usr/aarch64-linux-gnu
AARCH64_RUN ?= qemu-aarch64 -L $(AARCH64_SYSROOT)
AARCH64_B := $(BUILD)/aarch64-run
AARCH64_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
AARCH64_UNIT_FLAGS := $(WARN) -D_GNU_SOURCE -O1 -g $(CORE_INC) -Itests/unit
AARCH64_STRESS_FLAGS := $(WARN) -D_GNU_SOURCE -g $(CORE_INC) -pthread

$(AARCH64_B)/core_test: $(TESTS_UNIT_DEPS)
	@mkdir -p $(@D)
	$(AARCH64_CC) $(AARCH64_UNIT_FLAGS) -o $@ $<
$(AARCH64_B)/core_test-asan: $(TESTS_UNIT_DEPS)
	@mkdir -p $(@D)
	$(AARCH64_CC) $(AARCH64_UNIT_FLAGS) $(AARCH64_SAN) -o $@ $<
$(AARCH64_B)/core_stress: $(TESTS_STRESS_DEPS)
	@mkdir -p $(@D)
	$(AARCH64_CC) $(AARCH64_STRESS_FLAGS) -O2 -o $@ $<
$(AARCH64_B)/core_stress-tsan: $(TESTS_STRESS_DEPS)
	@mkdir -p $(@D)
	$(AARCH64_CC) $(AARCH64_STRESS_FLAGS) -O1 -fsanitize=thread -o $@ $<
$(AARCH64_B)/core_handler: annotations/real/core_handler.c core/profcore.h
	@mkdir -p $(@D)
	$(AARCH64_CC) $(WARN) $(OPT) $(CORE_INC) -o $@ $<
$(AARCH64_B)/core_demo: examples/core_demo.c core/profcore.h
	@mkdir -p $(@D)
	$(AARCH64_CC) $(WARN) -D_GNU_SOURCE $(OPT) $(CORE_INC) -pthread -o $@ $< -lrt

AARCH64_CORE_BINS := $(addprefix $(AARCH64_B)/,core_test core_test-asan core_stress core_stress-tsan core_handler core_demo)
ALL_TARGETS += $(AARCH64_CORE_BINS)
TEST_SUITES += aarch64-core
# The cross compiler, its libc and sanitizer runtimes, qemu-user; setarch
# (util-linux) for TSan.
DEPS_PACKAGES += gcc-aarch64-linux-gnu libc6-dev-arm64-cross libasan8-arm64-cross libubsan1-arm64-cross \
                 libtsan2-arm64-cross qemu-user util-linux

.PHONY: suite-aarch64-core
suite-aarch64-core: $(AARCH64_CORE_BINS)
	@AARCH64_RUN='$(AARCH64_RUN)' $(RUN_SUITE) aarch64-core tests/aarch64/run.sh core $(AARCH64_B)
