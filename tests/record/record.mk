# tests/record/record.mk — `profcore record` owning a whole tree's output
# (profiler/cli/recorder.h): the recorder's suites and their programs.
#
#   record-nginx   Debian's nginx (master + 2 workers as nobody) under ab,
#                  SIGQUIT and SIGTERM shutdowns, a bad config's status
#   record-tree    a chrooted setuid daemon, 50 children at once, a foreign
#                  process, truncated and garbage messages, SIGKILL,
#                  --per-process, exec of static/setuid binaries, a full disk
#   record-tree-asan  the same with profcore (the recorder) built with
#                  ASan+UBSan (leaks included): the cases that exercise the
#                  recorder's own code (messages, refusals, reaping, merge,
#                  --per-process, a full disk), 10 children at once.  No TSan variant: the
#                  recorder is one thread (one poll loop).

RECORD_B := $(BUILD)/record
RECORD_T := tests/record
RECORD_PROGS := $(RECORD_B)/daemon $(RECORD_B)/closer $(RECORD_B)/kids $(RECORD_B)/kids-static $(RECORD_B)/client
RECORD_CFLAGS := $(WARN) -O1 -g -fno-omit-frame-pointer
$(RECORD_B)/daemon $(RECORD_B)/closer: $(RECORD_B)/%: $(RECORD_T)/%.c | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CC) $(RECORD_CFLAGS) -o $@ $<
# kids asks the preload library for pcp_get_stats by dlsym (not linked).
$(RECORD_B)/kids: $(RECORD_T)/kids.c profiler/include/profcore_profiler.h | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CC) $(RECORD_CFLAGS) -Iprofiler/include -o $@ $< -ldl
# LD_PRELOAD cannot follow an exec into it: the recorder must be told why.
$(RECORD_B)/kids-static: $(RECORD_T)/kids.c profiler/include/profcore_profiler.h | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CC) $(RECORD_CFLAGS) -Iprofiler/include -static -o $@ $< -ldl
$(RECORD_B)/client: $(RECORD_T)/client.c profiler/common/record_proto.h | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CC) $(RECORD_CFLAGS) -Iprofiler/common -o $@ $<

# The recorder under ASan+UBSan: the same sources as $(BUILD)/profiler/profcore.
$(RECORD_B)/profcore-asan: $(CLI_DIR)/profcore.c $(CLI_RECORDER_SRC) $(CLI_DIR)/recorder.h $(CLI_FETCH_SRC) $(CLI_LIB_SRC) $(CLI_HDRS) | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CLI_SAN) $(CLI_INC) -o $@ $(CLI_DIR)/profcore.c $(CLI_RECORDER_SRC) $(CLI_FETCH_SRC) $(CLI_LIB_SRC) -lz $(CLI_FETCH_LDLIBS)

RECORD_DEPS := $(RECORD_PROGS) $(BUILD)/profiler/profcore $(BUILD)/profiler/libprofcore.so
ALL_TARGETS += $(RECORD_PROGS) $(RECORD_B)/profcore-asan
TEST_SUITES += record-nginx record-tree record-tree-asan
DEPS_PACKAGES += nginx apache2-utils golang-go python3 procps mount
.PHONY: suite-record-nginx suite-record-tree suite-record-tree-asan
suite-record-nginx: $(RECORD_DEPS)
	@$(RUN_SUITE) record-nginx $(RECORD_T)/run.sh nginx $(BUILD)/profiler/profcore $(RECORD_B) $(RECORD_B)/nginx-scratch
suite-record-tree: $(RECORD_DEPS)
	@$(RUN_SUITE) record-tree $(RECORD_T)/run.sh tree $(BUILD)/profiler/profcore $(RECORD_B) $(RECORD_B)/tree-scratch
suite-record-tree-asan: $(RECORD_DEPS) $(RECORD_B)/profcore-asan
	@PROFCORE_LIB=$(abspath $(BUILD)/profiler/libprofcore.so) RECORD_KIDS=10 $(RUN_SUITE) record-tree-asan $(RECORD_T)/run.sh tree-asan \
	    $(RECORD_B)/profcore-asan $(RECORD_B) $(RECORD_B)/tree-asan-scratch
