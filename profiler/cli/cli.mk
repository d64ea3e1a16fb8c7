# profiler/cli/cli.mk — the `profcore` tool, the profile readers, the
# environment parser, their tests (tests/cli/) and fuzz harnesses.
#
#   $(BUILD)/profiler/profcore   the CLI (record, top)
#   suites: cli-unit (env parser + readers + corpus replay, ASan+UBSan),
#           cli-record (record/top end to end with a dummy preload library),
#           cli-fuzz (libFuzzer, ~25 s per harness)
#   make cli-corpus   regenerates the committed seeds in profiler/cli/corpus/

CLI_DIR := profiler/cli
CLI_OUT := $(BUILD)/cli
CLI_COMMON := profiler/common
# The readers and the env parser name things with the vocabulary; the env
# parser takes its limits from the public header.
CLI_INC := $(CORE_INC) -I$(CLI_DIR) -I$(CLI_COMMON) -Iprofiler/include
CLI_CFLAGS := $(WARN) $(OPT) $(CLI_INC)
CLI_SAN := -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CLI_VOCAB := $(CLI_COMMON)/vocab.c
CLI_ENV := $(CLI_COMMON)/envconfig.c $(CLI_COMMON)/endpoint.c $(CLI_VOCAB)
CLI_READ := $(CLI_DIR)/readers.c $(CLI_VOCAB)
CLI_LIB_SRC := $(CLI_DIR)/readers.c $(CLI_ENV)
CLI_HDRS := $(CLI_DIR)/readers.h $(wildcard $(CLI_COMMON)/*.h) core/profcore.h
CLI_FUZZ_SECONDS ?= 25

# record: the recorder, and what a program file is (shared with the preload library)
CLI_RECORDER_SRC := $(CLI_DIR)/recorder.c $(CLI_DIR)/recorder_merge.c $(CLI_DIR)/recorder_out.c $(CLI_COMMON)/binkind.c
# record -p fetches a window from a process's pprof endpoint with libcurl
# (fetch.c); every build of the tool links it.
CLI_FETCH_SRC := $(CLI_DIR)/fetch.c
CLI_FETCH_LDLIBS := -lcurl
$(BUILD)/profiler/profcore: $(CLI_DIR)/profcore.c $(CLI_RECORDER_SRC) $(CLI_DIR)/recorder.h $(CLI_FETCH_SRC) $(CLI_DIR)/fetch.h \
                            $(CLI_LIB_SRC) $(CLI_HDRS) | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CC) $(CLI_CFLAGS) -o $@ $(CLI_DIR)/profcore.c $(CLI_RECORDER_SRC) $(CLI_FETCH_SRC) $(CLI_LIB_SRC) -lz $(CLI_FETCH_LDLIBS)

$(CLI_OUT)/test_readers: tests/cli/test_readers.c tests/check.h $(CLI_READ) $(CLI_DIR)/pbbuild.h $(CLI_HDRS) | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CLI_SAN) $(CLI_INC) -o $@ tests/cli/test_readers.c $(CLI_READ) -lz

$(CLI_OUT)/test_envconfig: tests/cli/test_envconfig.c tests/check.h $(CLI_ENV) $(CLI_HDRS) | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CLI_SAN) $(CLI_INC) -o $@ tests/cli/test_envconfig.c $(CLI_ENV)

# Corpus replay without libFuzzer: any compiler, sanitizers on.
$(CLI_OUT)/replay_readers: $(CLI_DIR)/fuzz_replay.c $(CLI_DIR)/fuzz_readers.c $(CLI_READ) $(CLI_HDRS) | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CLI_SAN) $(CLI_INC) -o $@ $(CLI_DIR)/fuzz_replay.c $(CLI_DIR)/fuzz_readers.c $(CLI_READ) -lz
$(CLI_OUT)/replay_env: $(CLI_DIR)/fuzz_replay.c $(CLI_DIR)/fuzz_env.c $(CLI_ENV) $(CLI_HDRS) | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CLI_SAN) $(CLI_INC) -o $@ $(CLI_DIR)/fuzz_replay.c $(CLI_DIR)/fuzz_env.c $(CLI_ENV)

# libFuzzer harnesses (clang only).
$(CLI_OUT)/fuzz_readers: $(CLI_DIR)/fuzz_readers.c $(CLI_READ) $(CLI_HDRS) | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CLANG) $(WARN) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(CLI_INC) -o $@ $(CLI_DIR)/fuzz_readers.c $(CLI_READ) -lz
$(CLI_OUT)/fuzz_env: $(CLI_DIR)/fuzz_env.c $(CLI_ENV) $(CLI_HDRS) | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CLANG) $(WARN) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(CLI_INC) -o $@ $(CLI_DIR)/fuzz_env.c $(CLI_ENV)

# record's test fixtures: a stand-in preload library that runs the real
# env parser and writes a tiny collapsed profile, a command with known
# exit/signal behaviour, and the same command linked statically.
$(CLI_OUT)/dummy_preload.so: tests/cli/dummy_preload.c $(CLI_ENV) profiler/preload/record_channel.c profiler/preload/record_channel.h $(CLI_HDRS) | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CC) $(WARN) $(OPT) $(CLI_INC) -Iprofiler/preload -shared -fPIC -o $@ tests/cli/dummy_preload.c profiler/preload/record_channel.c $(CLI_ENV)
$(CLI_OUT)/testprog: tests/cli/testprog.c | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CC) $(WARN) $(OPT) -o $@ $<
$(CLI_OUT)/testprog-static: tests/cli/testprog.c | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CC) $(WARN) $(OPT) -static -o $@ $<

$(CLI_OUT)/seedgen: $(CLI_DIR)/seedgen.c $(CLI_DIR)/pbbuild.h | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CC) $(WARN) $(OPT) -I$(CLI_DIR) -o $@ $< -lz

CLI_UNIT_BINS := $(CLI_OUT)/test_envconfig $(CLI_OUT)/test_readers $(CLI_OUT)/replay_readers $(CLI_OUT)/replay_env
CLI_RECORD_BINS := $(BUILD)/profiler/profcore $(CLI_OUT)/dummy_preload.so $(CLI_OUT)/testprog $(CLI_OUT)/testprog-static
CLI_FUZZ_BINS := $(CLI_OUT)/fuzz_readers $(CLI_OUT)/fuzz_env

.PHONY: cli cli-corpus suite-cli-unit suite-cli-record suite-cli-fuzz
cli: $(BUILD)/profiler/profcore
cli-corpus: $(CLI_OUT)/seedgen
	$(CLI_OUT)/seedgen $(CLI_DIR)/corpus

suite-cli-unit: $(CLI_UNIT_BINS)
	@$(RUN_SUITE) cli-unit tests/cli/run_all.sh $(CLI_OUT)/test_envconfig $(CLI_OUT)/test_readers \
	    "$(CLI_OUT)/replay_readers $(CLI_DIR)/corpus/readers" "$(CLI_OUT)/replay_env $(CLI_DIR)/corpus/env"
suite-cli-record: $(CLI_RECORD_BINS)
	@$(RUN_SUITE) cli-record tests/cli/test_record.sh $(BUILD)/profiler/profcore $(CLI_OUT)/dummy_preload.so \
	    $(CLI_OUT)/testprog $(CLI_OUT)/testprog-static $(CLI_OUT)/record-scratch
suite-cli-fuzz: $(CLI_FUZZ_BINS)
	@$(RUN_SUITE) cli-fuzz tests/cli/run_fuzz.sh $(CLI_FUZZ_SECONDS) $(CLI_OUT)/fuzz-scratch \
	    $(CLI_OUT)/fuzz_readers:$(CLI_DIR)/corpus/readers $(CLI_OUT)/fuzz_env:$(CLI_DIR)/corpus/env

ALL_TARGETS += $(BUILD)/profiler/profcore $(CLI_UNIT_BINS) $(CLI_RECORD_BINS) $(CLI_FUZZ_BINS)
TEST_SUITES += cli-unit cli-record
FUZZ_SUITES += cli-fuzz
DEPS_PACKAGES += zlib1g-dev libc6-dev clang libclang-rt-14-dev libcurl4-openssl-dev
