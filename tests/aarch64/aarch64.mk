# tests/aarch64/aarch64.mk — aarch64 that runs: the core's tests, the stress
# test and the demo built with Debian's cross compiler and run under
# qemu-user (tests/aarch64/run.sh; docs in tests/aarch64/README.md).
#
#   aarch64-core      core unit tests (plain, ASan+UBSan), core_stress (plain,
#                     TSan), the gate's real handler and the core demo
#   aarch64-profiler  libprofcore.a/.so for aarch64: unwind_agree (the
#                     frame-pointer walk against libgcc's and libunwind's
#                     unwinders), the demo read back by go tool pprof, and a
#                     program profiled through LD_PRELOAD
#
# Included last: the profiler's variables (profiler/profiler.mk) must exist
# when the prerequisite lists below are read.
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

# ---- the profiler for aarch64 ----
# libdw, libelf, zlib and libunwind for arm64 come from Debian's arm64
# packages unpacked into a sysroot by `make deps` (tools/foreign-sysroot;
# installing them as multiarch packages would upgrade host packages).  The
# headers are the arm64 packages' own.
space := $(empty) $(empty)
AARCH64_LIBROOT := $(BUILD)/aarch64-sysroot
AARCH64_LIBDEBS := libdw-dev libdw1 libelf-dev libelf1 zlib1g-dev zlib1g liblzma5 libbz2-1.0 libzstd1 \
                   libunwind-dev libunwind8
AARCH64_LIBDIRS := $(AARCH64_LIBROOT)/usr/lib/aarch64-linux-gnu $(AARCH64_LIBROOT)/lib/aarch64-linux-gnu
AARCH64_PROF_CFLAGS = $(WARN) $(OPT) -fno-omit-frame-pointer -pthread -fvisibility=hidden $(PROF_INC) \
    -Iprofiler/cli -Iprofiler/preload -idirafter $(AARCH64_LIBROOT)/usr/include \
    -idirafter $(AARCH64_LIBROOT)/usr/include/aarch64-linux-gnu
AARCH64_PROG_CFLAGS = $(WARN) -O2 -g -fno-omit-frame-pointer -pthread -Iprofiler/include \
    -idirafter $(AARCH64_LIBROOT)/usr/include -idirafter $(AARCH64_LIBROOT)/usr/include/aarch64-linux-gnu
AARCH64_LDFLAGS := $(addprefix -L,$(AARCH64_LIBDIRS)) -Wl,-rpath-link,$(subst $(space),:,$(AARCH64_LIBDIRS))
AARCH64_PROF_LIBS = $(PROF_LDLIBS)
# The guest's library path: the sysroot's libraries.
AARCH64_PROF_RUN = $(AARCH64_RUN) -E LD_LIBRARY_PATH=$(subst $(space),:,$(abspath $(AARCH64_LIBDIRS)))
AARCH64_SYSROOT_STAMP := $(AARCH64_LIBROOT)/.complete
DEPS_TARGETS += aarch64-sysroot
.PHONY: aarch64-sysroot
aarch64-sysroot:
	@tools/foreign-sysroot $(AARCH64_LIBROOT) arm64 $(AARCH64_LIBDEBS)
$(AARCH64_SYSROOT_STAMP):
	@tools/foreign-sysroot $(AARCH64_LIBROOT) arm64 $(AARCH64_LIBDEBS)

AARCH64_PROF_OBJS := $(patsubst %.c,$(AARCH64_B)/prof/%.o,$(PROF_ALL_SRCS))
AARCH64_PRELOAD_OBJS := $(patsubst %.c,$(AARCH64_B)/prof/%.o,$(PRELOAD_SRCS))
$(AARCH64_B)/prof/%.o: %.c $(PROF_HDRS) $(PRELOAD_HDRS) | $(AARCH64_SYSROOT_STAMP)
	@mkdir -p $(@D)
	$(AARCH64_CC) $(AARCH64_PROF_CFLAGS) -fPIC -c $< -o $@
$(AARCH64_B)/libprofcore.a: $(AARCH64_PROF_OBJS)
	rm -f $@ && aarch64-linux-gnu-ar rcs $@ $^
$(AARCH64_B)/libprofcore.so: $(AARCH64_PROF_OBJS) $(AARCH64_PRELOAD_OBJS)
	$(AARCH64_CC) -shared -o $@ $^ $(AARCH64_LDFLAGS) $(AARCH64_PROF_LIBS) $(PRELOAD_LDLIBS)
$(AARCH64_B)/unwind_agree: tests/profiler/unwind_agree.c tests/check.h $(AARCH64_B)/libprofcore.a
	$(AARCH64_CC) $(AARCH64_PROG_CFLAGS) -rdynamic -o $@ $< $(AARCH64_B)/libprofcore.a $(AARCH64_LDFLAGS) \
	    $(AARCH64_PROF_LIBS) -lunwind-generic -lunwind
$(AARCH64_B)/demo: examples/demo.c $(AARCH64_B)/libprofcore.a
	$(AARCH64_CC) $(AARCH64_PROG_CFLAGS) -rdynamic -o $@ $< $(AARCH64_B)/libprofcore.a $(AARCH64_LDFLAGS) $(AARCH64_PROF_LIBS)
$(AARCH64_B)/exit_paths: tests/preload/exit_paths.c
	$(AARCH64_CC) $(AARCH64_PROG_CFLAGS) -D_GNU_SOURCE -o $@ $<
$(AARCH64_B)/vm_readv_probe: tests/aarch64/vm_readv_probe.c
	$(AARCH64_CC) $(WARN) -O2 -o $@ $<

AARCH64_PROF_BINS := $(addprefix $(AARCH64_B)/,libprofcore.a libprofcore.so unwind_agree demo exit_paths vm_readv_probe)
ALL_TARGETS += $(AARCH64_PROF_BINS)
TEST_SUITES += aarch64-profiler
.PHONY: suite-aarch64-profiler
suite-aarch64-profiler: $(AARCH64_PROF_BINS)
	@AARCH64_RUN='$(AARCH64_PROF_RUN)' $(RUN_SUITE) aarch64-profiler tests/aarch64/run.sh profiler $(AARCH64_B)
