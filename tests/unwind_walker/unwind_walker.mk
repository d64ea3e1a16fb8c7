# tests/unwind_walker/unwind_walker.mk — core/profcore_unwind.h, the walker.
#
# unwind-walker-gcc / -clang: tests/unwind_walker/walker_test.c under
#   ASan+UBSan (hand-built tables, fake stacks, a real ucontext).
# unwind-freestanding: the walker compiles -ffreestanding and links
#   -nostdlib with no undefined symbol under gcc, clang and
#   aarch64-linux-gnu-gcc; its ucontext offsets match <ucontext.h> on both
#   architectures (compile-time checks).
UNWIND_T := $(BUILD)/unwind_walker
UNWIND_H := core/profcore_unwind.h
UNWIND_TEST_FLAGS := $(WARN) -D_GNU_SOURCE -O1 -g $(CORE_INC) $(TESTS_SAN)
UNWIND_AARCH64_CC ?= aarch64-linux-gnu-gcc

$(UNWIND_T)/walker_test-gcc: tests/unwind_walker/walker_test.c tests/check.h $(UNWIND_H)
	@mkdir -p $(@D)
	gcc $(UNWIND_TEST_FLAGS) -o $@ $<
$(UNWIND_T)/walker_test-clang: tests/unwind_walker/walker_test.c tests/check.h $(UNWIND_H)
	@mkdir -p $(@D)
	$(CLANG) $(UNWIND_TEST_FLAGS) -o $@ $<

# Freestanding objects: gcc, clang, aarch64 (the compiler is in the name).
UNWIND_FS_FLAGS := $(WARN) -Wpedantic -ffreestanding -O2 $(CORE_INC)
unwind_fs_cc = $(if $(findstring aarch64,$(1)),$(UNWIND_AARCH64_CC),$(if $(findstring clang,$(1)),$(CLANG),gcc))
$(UNWIND_T)/fs-%.o: tests/unwind_walker/freestanding.c $(UNWIND_H)
	@mkdir -p $(@D)
	$(call unwind_fs_cc,$*) $(UNWIND_FS_FLAGS) -c $< -o $@
$(UNWIND_T)/fs-%.elf: $(UNWIND_T)/fs-%.o
	$(call unwind_fs_cc,$*) -nostdlib -static -Wl,--no-undefined -o $@ $<
	@undef=$$(nm -u $<); if [ -n "$$undef" ]; then echo "undefined symbols in the walker: $$undef"; exit 1; fi
$(UNWIND_T)/ucontext-%.o: tests/unwind_walker/ucontext_layout.c $(UNWIND_H)
	@mkdir -p $(@D)
	$(call unwind_fs_cc,$*) $(WARN) $(CORE_INC) -c $< -o $@

UNWIND_FS_BINS := $(foreach c,gcc clang aarch64,$(UNWIND_T)/fs-$(c).elf) \
                  $(UNWIND_T)/ucontext-gcc.o $(UNWIND_T)/ucontext-aarch64.o
.PHONY: unwind-freestanding suite-unwind-walker-gcc suite-unwind-walker-clang suite-unwind-freestanding
unwind-freestanding: $(UNWIND_FS_BINS)
	@echo "unwind-freestanding: walker links with -nostdlib, no undefined symbols (gcc, clang, aarch64); ucontext offsets match (x86_64, aarch64)"

ALL_TARGETS += $(UNWIND_T)/walker_test-gcc $(UNWIND_T)/walker_test-clang
TEST_SUITES += unwind-walker-gcc unwind-walker-clang unwind-freestanding
DEPS_PACKAGES += gcc clang libclang-rt-14-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils

suite-unwind-walker-gcc: $(UNWIND_T)/walker_test-gcc
	@$(RUN_SUITE) unwind-walker-gcc env $(TESTS_ASAN_ENV) $<
suite-unwind-walker-clang: $(UNWIND_T)/walker_test-clang
	@$(RUN_SUITE) unwind-walker-clang env $(TESTS_ASAN_ENV) $<
suite-unwind-freestanding:
	@MAKE='$(MAKE)' $(RUN_SUITE) unwind-freestanding tools/make-each $(UNWIND_FS_BINS)

# The gate's real walker handler (annotations/real/unwind_handler.c) is also
# a program: a short ITIMER_PROF run walking its own frame-pointer stack.
$(UNWIND_T)/unwind_handler: annotations/real/unwind_handler.c $(UNWIND_H)
	@mkdir -p $(@D)
	$(CC) $(WARN) -O1 -g -fno-omit-frame-pointer -pthread $(CORE_INC) -o $@ $<
ALL_TARGETS += $(UNWIND_T)/unwind_handler
TEST_SUITES += unwind-handler
.PHONY: suite-unwind-handler
suite-unwind-handler: $(UNWIND_T)/unwind_handler
	@$(RUN_SUITE) unwind-handler $<

# aarch64 under qemu-user: the same unit tests with the aarch64 paths (RA in
# LR, pointer-authentication bits, the aarch64 ucontext of a real signal),
# ASan+UBSan (LeakSanitizer cannot run under qemu's ptrace-like setup).
UNWIND_QEMU = $(or $(AARCH64_RUN),qemu-aarch64 -L /usr/aarch64-linux-gnu)
$(UNWIND_T)/walker_test-aarch64: tests/unwind_walker/walker_test.c tests/check.h $(UNWIND_H)
	@mkdir -p $(@D)
	$(UNWIND_AARCH64_CC) $(UNWIND_TEST_FLAGS) -o $@ $<
ALL_TARGETS += $(UNWIND_T)/walker_test-aarch64
TEST_SUITES += unwind-walker-aarch64
DEPS_PACKAGES += qemu-user libasan8-arm64-cross libubsan1-arm64-cross
.PHONY: suite-unwind-walker-aarch64
suite-unwind-walker-aarch64: $(UNWIND_T)/walker_test-aarch64
	@$(RUN_SUITE) unwind-walker-aarch64 env ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	    UBSAN_OPTIONS=halt_on_error=1 $(UNWIND_QEMU) $<
