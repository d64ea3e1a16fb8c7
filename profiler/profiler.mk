# profiler/profiler.mk — the hosted profiler runtime: libprofcore.a/.so,
# the demo (examples/demo.c) and the profiler's test suites.
#
# Libraries link the output side's sources (profiler/output/output.mk
# defines PROFILER_OUTPUT_SRCS and PROFILER_OUTPUT_LDLIBS).
include profiler/output/output.mk
include profiler/preload/preload.mk

PROF_B := $(BUILD)/profiler
PROF_SRCS := profiler/src/core.c profiler/src/handler.c profiler/src/unwind.c \
             profiler/src/threads.c profiler/src/snapshot.c \
             profiler/src/session.c profiler/src/options.c profiler/src/writer.c profiler/src/wall.c \
             profiler/src/labels.c profiler/src/fork.c profiler/src/aggregate.c profiler/src/support.c \
             profiler/src/rotate.c \
             profiler/src/unwind_core.c profiler/src/unwind_tables.c profiler/src/unwind_objects.c \
             profiler/src/own_sigmask.c \
             profiler/src/http_route.c profiler/src/http_mhd.c profiler/src/http_server.c
PROF_HDRS := profiler/src/internal.h profiler/src/http.h profiler/src/http_mhd.h profiler/include/profcore_profiler.h \
             $(wildcard profiler/common/*.h) core/profcore.h core/profcore_unwind.h profiler/src/unwind_tables.h \
             $(wildcard profiler/output/*.h)
# The vocabulary every layer names things with (profiler/common/vocab.h).
PROF_COMMON_SRCS := profiler/common/vocab.c profiler/common/endpoint.c
PROF_ALL_SRCS := $(PROF_SRCS) $(PROFILER_OUTPUT_SRCS) $(PROF_COMMON_SRCS)
PROF_INC := $(CORE_INC) -Iprofiler/src -Iprofiler/include -Iprofiler/output -Iprofiler/common
# Frame pointers everywhere: the handler's unwinder walks them.
PROF_ARCH := $(shell uname -m)
PROF_FP := -fno-omit-frame-pointer $(if $(filter x86_64,$(PROF_ARCH)),-mno-omit-leaf-frame-pointer)
PROF_CFLAGS := $(WARN) $(OPT) $(PROF_FP) -pthread -fvisibility=hidden $(PROF_INC)
# -ldl: the pprof endpoint dlopens libmicrohttpd (in libc since glibc 2.34).
PROF_LDLIBS := $(PROFILER_OUTPUT_LDLIBS) -pthread -lrt -ldl
PROF_LIB_A := $(PROF_B)/libprofcore.a
PROF_LIB_SO := $(PROF_B)/libprofcore.so
# Programs linked with the static library (symbols for the tests via -rdynamic).
PROF_PROG_CFLAGS := $(WARN) -O2 -g $(PROF_FP) -pthread -Iprofiler/include
PROF_PROG_LDFLAGS := -rdynamic

# ---- objects: one set per variant (plain, asan, tsan) ----
# $(1) variant, $(2) extra flags
define PROF_VARIANT
$(PROF_B)/$(1)/%.o: %.c $(PROF_HDRS)
	@mkdir -p $$(@D)
	$$(CC) $$(PROF_CFLAGS) $(2) -c $$< -o $$@
PROF_OBJS_$(1) := $$(patsubst %.c,$(PROF_B)/$(1)/%.o,$$(PROF_ALL_SRCS))
endef
PROF_SAN_ASAN := -fsanitize=address,undefined -fno-sanitize-recover=all
PROF_SAN_TSAN := -fsanitize=thread
$(eval $(call PROF_VARIANT,obj,-fPIC))
$(eval $(call PROF_VARIANT,asan,$(PROF_SAN_ASAN)))
$(eval $(call PROF_VARIANT,tsan,$(PROF_SAN_TSAN)))

$(PROF_LIB_A): $(PROF_OBJS_obj)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^
$(PROF_LIB_SO): $(PROF_OBJS_obj) $(PRELOAD_OBJS)
	@mkdir -p $(@D)
	$(CC) -shared -o $@ $^ $(PROF_LDLIBS) $(PRELOAD_LDLIBS)

# The public API (and the interposed libc functions) are the only exports
# of the shared library: tests/profiler/run.sh exports, the suite
# profiler-check-exports.
.PHONY: profiler-libs profiler-check-exports suite-profiler-check-exports
profiler-libs: $(PROF_LIB_A) $(PROF_LIB_SO)
profiler-check-exports: $(PROF_LIB_SO)
	@INTERPOSED_RE='$(PRELOAD_INTERPOSED_RE)' tests/profiler/run.sh exports $(PROF_B)
suite-profiler-check-exports: $(PROF_LIB_SO)
	@INTERPOSED_RE='$(PRELOAD_INTERPOSED_RE)' $(RUN_SUITE) profiler-check-exports tests/profiler/run.sh exports $(PROF_B)
TEST_SUITES += profiler-check-exports

# ---- programs ----
PROF_TESTS := accuracy_workload stress badinput unwind_agree wall_clock snapshot
PROF_TEST_BINS := $(addprefix $(PROF_B)/tests/,$(PROF_TESTS))
$(PROF_B)/tests/%: tests/profiler/%.c tests/check.h $(PROF_LIB_A) profiler/include/profcore_profiler.h
	@mkdir -p $(@D)
	$(CC) $(PROF_PROG_CFLAGS) $(PROF_PROG_LDFLAGS) -o $@ $< $(PROF_LIB_A) $(PROF_LDLIBS) \
	    $(if $(filter unwind_agree,$*),-lunwind-generic -lunwind)
$(PROF_B)/tests/%-asan: tests/profiler/%.c tests/check.h $(PROF_OBJS_asan) profiler/include/profcore_profiler.h
	@mkdir -p $(@D)
	$(CC) $(PROF_PROG_CFLAGS) $(PROF_SAN_ASAN) $(PROF_PROG_LDFLAGS) -o $@ $< $(PROF_OBJS_asan) $(PROF_LDLIBS)
$(PROF_B)/tests/%-tsan: tests/profiler/%.c tests/check.h $(PROF_OBJS_tsan) profiler/include/profcore_profiler.h
	@mkdir -p $(@D)
	$(CC) $(PROF_PROG_CFLAGS) $(PROF_SAN_TSAN) $(PROF_PROG_LDFLAGS) -o $@ $< $(PROF_OBJS_tsan) $(PROF_LDLIBS)
$(PROF_B)/demo: examples/demo.c $(PROF_LIB_A) profiler/include/profcore_profiler.h
	@mkdir -p $(@D)
	$(CC) $(PROF_PROG_CFLAGS) $(PROF_PROG_LDFLAGS) -o $@ $< $(PROF_LIB_A) $(PROF_LDLIBS)
# The demo against the shared library: the .so must work too.
$(PROF_B)/demo-shared: examples/demo.c $(PROF_LIB_SO) profiler/include/profcore_profiler.h
	@mkdir -p $(@D)
	$(CC) $(PROF_PROG_CFLAGS) $(PROF_PROG_LDFLAGS) -o $@ $< -L$(PROF_B) -Wl,-rpath,'$$ORIGIN' -lprofcore -pthread

# session_race: white-box, the runtime's objects with the handler's view
# probe compiled in (PRT_TEST_VIEW_PROBE) and the runtime's mmap/munmap
# wrapped, so the test sees every view a handler acts on and every mapping.
PROF_RACE_LDFLAGS := -Wl,--wrap=mmap -Wl,--wrap=munmap
$(PROF_B)/probe-obj/handler.o: profiler/src/handler.c $(PROF_HDRS)
	@mkdir -p $(@D)
	$(CC) $(PROF_CFLAGS) -fPIC -DPRT_TEST_VIEW_PROBE -c $< -o $@
$(PROF_B)/probe-tsan/handler.o: profiler/src/handler.c $(PROF_HDRS)
	@mkdir -p $(@D)
	$(CC) $(PROF_CFLAGS) $(PROF_SAN_TSAN) -DPRT_TEST_VIEW_PROBE -c $< -o $@
$(PROF_B)/tests/session_race: tests/profiler/session_race.c tests/check.h $(PROF_HDRS) \
                              $(filter-out %/handler.o,$(PROF_OBJS_obj)) $(PROF_B)/probe-obj/handler.o
	@mkdir -p $(@D)
	$(CC) $(PROF_PROG_CFLAGS) $(PROF_INC) $(PROF_PROG_LDFLAGS) $(PROF_RACE_LDFLAGS) -o $@ $< \
	    $(filter %.o,$^) $(PROF_LDLIBS)
$(PROF_B)/tests/session_race-tsan: tests/profiler/session_race.c tests/check.h $(PROF_HDRS) \
                                   $(filter-out %/handler.o,$(PROF_OBJS_tsan)) $(PROF_B)/probe-tsan/handler.o
	@mkdir -p $(@D)
	$(CC) $(PROF_PROG_CFLAGS) $(PROF_SAN_TSAN) $(PROF_INC) $(PROF_PROG_LDFLAGS) $(PROF_RACE_LDFLAGS) -o $@ $< \
	    $(filter %.o,$^) $(PROF_LDLIBS)
ALL_TARGETS += $(PROF_B)/tests/session_race $(PROF_B)/tests/session_race-tsan

# thread_tails: white-box (reads the runtime's aggregate per tid), so it
# sees the internal headers; plain, ASan+UBSan and TSan builds.
$(PROF_B)/tests/thread_tails: tests/profiler/thread_tails.c tests/check.h $(PROF_HDRS) $(PROF_LIB_A)
	@mkdir -p $(@D)
	$(CC) $(PROF_PROG_CFLAGS) $(PROF_INC) $(PROF_PROG_LDFLAGS) -o $@ $< $(PROF_LIB_A) $(PROF_LDLIBS)
$(PROF_B)/tests/thread_tails-asan: tests/profiler/thread_tails.c tests/check.h $(PROF_HDRS) $(PROF_OBJS_asan)
	@mkdir -p $(@D)
	$(CC) $(PROF_PROG_CFLAGS) $(PROF_SAN_ASAN) $(PROF_INC) $(PROF_PROG_LDFLAGS) -o $@ $< $(PROF_OBJS_asan) $(PROF_LDLIBS)
$(PROF_B)/tests/thread_tails-tsan: tests/profiler/thread_tails.c tests/check.h $(PROF_HDRS) $(PROF_OBJS_tsan)
	@mkdir -p $(@D)
	$(CC) $(PROF_PROG_CFLAGS) $(PROF_SAN_TSAN) $(PROF_INC) $(PROF_PROG_LDFLAGS) -o $@ $< $(PROF_OBJS_tsan) $(PROF_LDLIBS)
PROF_TAILS_BINS := $(PROF_B)/tests/thread_tails $(PROF_B)/tests/thread_tails-asan $(PROF_B)/tests/thread_tails-tsan
ALL_TARGETS += $(PROF_TAILS_BINS)
# Every CPU-second of short threads in the profile (tests/profiler/thread_tails.sh).
TEST_SUITES += profiler-thread-tails profiler-thread-tails-asan profiler-thread-tails-tsan
.PHONY: suite-profiler-thread-tails suite-profiler-thread-tails-asan suite-profiler-thread-tails-tsan
suite-profiler-thread-tails: $(PROF_B)/tests/thread_tails
	@$(RUN_SUITE) profiler-thread-tails tests/profiler/thread_tails.sh $(PROF_B) plain
suite-profiler-thread-tails-asan: $(PROF_B)/tests/thread_tails-asan
	@$(RUN_SUITE) profiler-thread-tails-asan tests/profiler/thread_tails.sh $(PROF_B) asan
suite-profiler-thread-tails-tsan: $(PROF_B)/tests/thread_tails-tsan
	@$(RUN_SUITE) profiler-thread-tails-tsan tests/profiler/thread_tails.sh $(PROF_B) tsan

ALL_TARGETS += $(PROF_LIB_A) $(PROF_LIB_SO) $(PROF_B)/demo $(PROF_B)/demo-shared $(PROF_TEST_BINS)

# ---- the demo ----
DEMO_TARGET := profiler-demo
DEPS_DEMO += zlib1g-dev libdw-dev
.PHONY: profiler-demo
profiler-demo: $(PROF_B)/demo
	@mkdir -p out
	$(PROF_B)/demo out/demo
	@if command -v go >/dev/null 2>&1; then echo; echo "== go tool pprof -top out/demo.pb.gz"; \
	    go tool pprof -top -nodecount=15 $(PROF_B)/demo out/demo.pb.gz 2>&1; fi

# ---- suites ----
DEPS_PACKAGES += golang-go google-perftools libunwind-dev zlib1g-dev libdw-dev
# The pprof endpoint: the header at build time, the library dlopen'd at run time.
DEPS_PACKAGES += libmicrohttpd-dev libmicrohttpd12
PROF_RUN := tests/profiler/run.sh
TEST_SUITES += profiler-integration profiler-accuracy profiler-stress profiler-asan \
               profiler-tsan profiler-badinput profiler-unwind-agree profiler-wall \
               profiler-snapshot profiler-session-race profiler-session-race-tsan
.PHONY: suite-profiler-session-race suite-profiler-session-race-tsan
.PHONY: suite-profiler-integration suite-profiler-accuracy suite-profiler-stress \
        suite-profiler-asan suite-profiler-tsan suite-profiler-badinput suite-profiler-unwind-agree \
        suite-profiler-wall suite-profiler-snapshot
suite-profiler-integration: $(PROF_B)/demo $(PROF_B)/demo-shared
	@$(RUN_SUITE) profiler-integration $(PROF_RUN) integration $(PROF_B)
suite-profiler-accuracy: $(PROF_B)/tests/accuracy_workload
	@$(RUN_SUITE) profiler-accuracy nice $(PROF_RUN) accuracy $(PROF_B)
suite-profiler-stress: $(PROF_B)/tests/stress
	@$(RUN_SUITE) profiler-stress $(PROF_B)/tests/stress
suite-profiler-asan: $(PROF_B)/tests/stress-asan $(PROF_B)/tests/badinput-asan \
                     $(PROF_B)/tests/wall_clock-asan $(PROF_B)/tests/snapshot-asan
	@$(RUN_SUITE) profiler-asan $(PROF_RUN) sanitized $(PROF_B) asan
suite-profiler-tsan: $(PROF_B)/tests/stress-tsan $(PROF_B)/tests/badinput-tsan
	@$(RUN_SUITE) profiler-tsan $(PROF_RUN) sanitized $(PROF_B) tsan
suite-profiler-badinput: $(PROF_B)/tests/badinput
	@$(RUN_SUITE) profiler-badinput $(PROF_B)/tests/badinput
suite-profiler-wall: $(PROF_B)/tests/wall_clock
	@$(RUN_SUITE) profiler-wall $(PROF_RUN) wall $(PROF_B)
suite-profiler-snapshot: $(PROF_B)/tests/snapshot
	@$(RUN_SUITE) profiler-snapshot $(PROF_RUN) snapshot $(PROF_B)
# A handler between any two steps of pcp_start/pcp_stop sees no session or a
# complete one; a failed start leaves nothing to unmap twice.
suite-profiler-session-race: $(PROF_B)/tests/session_race
	@$(RUN_SUITE) profiler-session-race $(PROF_B)/tests/session_race 1500
suite-profiler-session-race-tsan: $(PROF_B)/tests/session_race-tsan
	@$(RUN_SUITE) profiler-session-race-tsan $(PROF_B)/tests/session_race-tsan 500
suite-profiler-unwind-agree: $(PROF_B)/tests/unwind_agree
	@$(RUN_SUITE) profiler-unwind-agree $(PROF_B)/tests/unwind_agree

# ---- aarch64: the profiler must at least compile there ----
# clang cross-compiles with Debian's arm64 libc headers; elfutils and zlib
# headers are architecture-independent and come from /usr/include.  Real
# object code, not just a syntax check, so inline asm is exercised too.
DEPS_PACKAGES += libc6-dev-arm64-cross
PROF_AARCH64_SRCS = $(sort $(PROF_ALL_SRCS) $(PRELOAD_SRCS) $(wildcard profiler/cli/*.c profiler/common/*.c))
# libcurl's headers (the CLI's fetch.c) live in Debian's multiarch directory;
# they pick the architecture from the compiler's macros, so a directory
# holding only them (a link) serves aarch64 without the rest of x86_64's.
PROF_AARCH64_CURL := $(BUILD)/aarch64/include-curl
PROF_AARCH64_CFLAGS = --target=aarch64-linux-gnu $(WARN) -O2 -fno-omit-frame-pointer -pthread \
    $(PROF_INC) -idirafter /usr/include -idirafter $(PROF_AARCH64_CURL)
TEST_SUITES += profiler-aarch64-compile
.PHONY: suite-profiler-aarch64-compile
suite-profiler-aarch64-compile:
	@mkdir -p $(BUILD)/aarch64 $(PROF_AARCH64_CURL)
	@ln -sfn $$(dirname $$(dpkg -L libcurl4-openssl-dev | grep '/curl/curl.h$$')) $(PROF_AARCH64_CURL)/curl
	@$(RUN_SUITE) profiler-aarch64-compile bash -c 'p=0; f=0; \
	    for s in $(PROF_AARCH64_SRCS); do \
	        if $(CLANG) $(PROF_AARCH64_CFLAGS) -c $$s -o $(BUILD)/aarch64/$$(basename $$s .c).o; \
	        then p=$$((p+1)); else echo "FAIL $$s"; f=$$((f+1)); fi; \
	    done; echo "$$p passed, $$f failed"; [ $$f -eq 0 ]'
-include tests/unwind_tables/unwind_tables.mk
