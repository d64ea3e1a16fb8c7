# profiler/preload/preload.mk — the LD_PRELOAD half of libprofcore.so
# (environment activation, exit paths, fork/exec safety, gperftools' C API)
# and its suites (tests/preload/).  Included by profiler/profiler.mk, which
# links $(PRELOAD_OBJS) into $(PRELOAD_LIB_SO) only: libprofcore.a stays
# API-only (no interposition).
#
# Suites (each prints "N passed, N failed"):
#   preload-programs        xz, python3, sqlite3 from Debian, profiled by
#                           LD_PRELOAD; go tool pprof / google-pprof checks
#   preload-forkexec        shell pipelines and forking workers
#   preload-exit-paths      every exit and signal path leaves a profile
#   preload-gperftools-api  a program built against gperftools' profiler.h
#   preload-badinput        bad environment, bad paths, SIGPROF owners,
#                           setuid, static programs
#   preload-servers         forked workers without exec (PROFCORE_CHILDREN=1):
#                           each its own profile, within 10 % of its CPU;
#                           workers that setuid, chroot, close every fd
#   preload-gperftools-names  CPUPROFILE children named as gperftools names
#                           them (NAME_<pid>), preloaded and linked
#   preload-sigmask         workers that block SIGPROF (born with every
#                           signal blocked, as in xz -T2) are still sampled,
#                           and the masks the program reads back are its own

# Read near the top of profiler.mk, before its variables exist: targets and
# prerequisites here use only $(BUILD) and literal paths (recipes may use
# profiler.mk's variables: they expand later).
PRELOAD_LIB_DIR := $(BUILD)/profiler
PRELOAD_LIB_SO := $(PRELOAD_LIB_DIR)/libprofcore.so
PRELOAD_SRCS := profiler/preload/preload.c profiler/preload/interpose.c profiler/preload/gperftools.c \
                profiler/preload/record_channel.c profiler/preload/record_session.c profiler/preload/sigmask.c \
                profiler/preload/http_env.c profiler/common/envconfig.c profiler/common/binkind.c
PRELOAD_HDRS := profiler/preload/preload_internal.h profiler/preload/record_channel.h $(wildcard profiler/common/*.h)
PRELOAD_OBJS := $(patsubst %.c,$(PRELOAD_LIB_DIR)/obj/%.o,$(PRELOAD_SRCS))
# Same flags as the runtime's obj variant (its -Iprofiler/common has the env
# parser and the runtime link), plus this folder; nothing of profiler/src.
$(PRELOAD_OBJS): $(PRELOAD_LIB_DIR)/obj/%.o: %.c $(PRELOAD_HDRS) \
                 profiler/include/profcore_profiler.h core/profcore.h
	@mkdir -p $(@D)
	$(CC) $(PROF_CFLAGS) -fPIC -Iprofiler/preload -c $< -o $@

# dlsym is in libc since glibc 2.34; -ldl keeps older systems linking.
PRELOAD_LDLIBS := -ldl
# The libc functions the library interposes (exported on purpose; checked by
# profiler-check-exports, one alternative of an anchored regex).
PRELOAD_INTERPOSED_RE := (pthread_create|pthread_exit|pthread_sigmask|sigprocmask|fork|_exit|_Exit|execve|execv|execvp|execvpe|execl|execlp|execle|fexecve|sigaction|signal)$$$$

PRELOAD_B := $(BUILD)/preload
PRELOAD_T := tests/preload
PRELOAD_PROGS := gperf_api exit_paths forker forkchild snapper server forkexec_self maskworkers
PRELOAD_BINS := $(addprefix $(PRELOAD_B)/,$(PRELOAD_PROGS)) $(PRELOAD_B)/static_prog $(PRELOAD_B)/forkexec_self_linked
PRELOAD_PROG_CFLAGS := $(WARN) -D_GNU_SOURCE -O2 -g -fno-omit-frame-pointer -pthread
# The gperftools program is compiled against gperftools' own header and
# linked against our shared library instead of libprofiler.
$(PRELOAD_B)/gperf_api: $(PRELOAD_T)/gperf_api.c $(PRELOAD_LIB_SO)
	@mkdir -p $(@D)
	$(CC) $(PRELOAD_PROG_CFLAGS) -I/usr/include -o $@ $< -L$(PRELOAD_LIB_DIR) -Wl,-rpath,$(abspath $(PRELOAD_LIB_DIR)) -lprofcore
# gperftools' FORK test, linked against our library as a program is linked
# against -lprofiler (it calls none of its functions: --no-as-needed).
$(PRELOAD_B)/forkexec_self_linked: $(PRELOAD_T)/forkexec_self.c $(PRELOAD_LIB_SO)
	@mkdir -p $(@D)
	$(CC) $(PRELOAD_PROG_CFLAGS) -o $@ $< -L$(PRELOAD_LIB_DIR) -Wl,-rpath,$(abspath $(PRELOAD_LIB_DIR)) -Wl,--no-as-needed -lprofcore
# The fork test of the API alone: linked with the static library, no preload.
$(PRELOAD_B)/forkchild: $(PRELOAD_T)/forkchild.c tests/check.h $(BUILD)/profiler/libprofcore.a profiler/include/profcore_profiler.h
	@mkdir -p $(@D)
	$(CC) $(PRELOAD_PROG_CFLAGS) -Iprofiler/include -o $@ $< $(PROF_LIB_A) $(PROF_LDLIBS)
$(PRELOAD_B)/%: $(PRELOAD_T)/%.c
	@mkdir -p $(@D)
	$(CC) $(PRELOAD_PROG_CFLAGS) -o $@ $<
$(PRELOAD_B)/static_prog: $(PRELOAD_T)/exit_paths.c
	@mkdir -p $(@D)
	$(CC) $(PRELOAD_PROG_CFLAGS) -static -o $@ $<

ALL_TARGETS += $(PRELOAD_BINS)
DEPS_PACKAGES += xz-utils python3 sqlite3 libgoogle-perftools-dev google-perftools golang-go util-linux

PRELOAD_RUN := $(PRELOAD_T)/run.sh
PRELOAD_DEPS := $(PRELOAD_LIB_SO) $(PRELOAD_BINS) $(PRELOAD_LIB_DIR)/profcore
PRELOAD_SUITES := preload-programs preload-forkexec preload-exit-paths preload-gperftools-api preload-badinput \
                  preload-servers preload-gperftools-names \
                  preload-sigmask
TEST_SUITES += $(PRELOAD_SUITES)
.PHONY: $(addprefix suite-,$(PRELOAD_SUITES))
suite-preload-programs: $(PRELOAD_DEPS)
	@$(RUN_SUITE) preload-programs nice $(PRELOAD_RUN) programs $(PRELOAD_LIB_DIR) $(PRELOAD_B)
suite-preload-forkexec: $(PRELOAD_DEPS)
	@$(RUN_SUITE) preload-forkexec $(PRELOAD_RUN) forkexec $(PRELOAD_LIB_DIR) $(PRELOAD_B)
suite-preload-exit-paths: $(PRELOAD_DEPS)
	@$(RUN_SUITE) preload-exit-paths $(PRELOAD_RUN) exit-paths $(PRELOAD_LIB_DIR) $(PRELOAD_B)
suite-preload-gperftools-api: $(PRELOAD_DEPS)
	@$(RUN_SUITE) preload-gperftools-api $(PRELOAD_RUN) gperftools-api $(PRELOAD_LIB_DIR) $(PRELOAD_B)
suite-preload-badinput: $(PRELOAD_DEPS)
	@$(RUN_SUITE) preload-badinput $(PRELOAD_RUN) badinput $(PRELOAD_LIB_DIR) $(PRELOAD_B)
suite-preload-servers: $(PRELOAD_DEPS)
	@$(RUN_SUITE) preload-servers $(PRELOAD_RUN) servers $(PRELOAD_LIB_DIR) $(PRELOAD_B)
suite-preload-sigmask: $(PRELOAD_DEPS)
	@$(RUN_SUITE) preload-sigmask $(PRELOAD_RUN) sigmask $(PRELOAD_LIB_DIR) $(PRELOAD_B)
suite-preload-gperftools-names: $(PRELOAD_DEPS)
	@$(RUN_SUITE) preload-gperftools-names $(PRELOAD_RUN) gperftools-names $(PRELOAD_LIB_DIR) $(PRELOAD_B)
