# profiler/output/output.mk — the profiler's output side: symbolization
# (elfutils libdwfl), pprof (gzip protobuf, zlib), gperftools' legacy format,
# collapsed stacks and the summary.  Included by profiler/profiler.mk, which
# links PROFILER_OUTPUT_SRCS with PROFILER_OUTPUT_LDLIBS into the profiler.
#
# Suites:
#   output-unit        formats decoded by hand, symbolization, atomic writes
#   output-unit-asan   the same under ASan + UBSan
#   output-tools       the files read back by go tool pprof and google-pprof

PROFILER_OUTPUT_SRCS := profiler/output/util.c profiler/output/reserved.c profiler/output/symbolize.c \
                        profiler/output/pprof.c profiler/output/legacy.c \
                        profiler/output/collapsed.c profiler/output/summary.c \
                        profiler/output/cfi_fde.c profiler/output/unwind_info.c \
                        profiler/output/encode.c
PROFILER_OUTPUT_HDRS := profiler/output/output_internal.h profiler/output/cfi_fde.h profiler/common/profile.h \
                        profiler/common/vocab.h core/profcore.h
PROFILER_OUTPUT_LDLIBS := -ldw -lelf -lz

DEPS_DEMO += zlib1g-dev libdw-dev libelf-dev
# The tests also need the readers: go tool pprof (golang-go), google-pprof
# (google-perftools, which symbolizes with binutils' nm/addr2line), and
# binutils' readelf as an independent build-ID reader.
DEPS_PACKAGES += zlib1g-dev libdw-dev libelf-dev golang-go google-perftools binutils

OUTPUT_BUILD := $(BUILD)/output
# -g is forced: the tests compare symbolized files and lines with __LINE__.
# --build-id is explicit: the tests check the main binary's build ID.
OUTPUT_TEST_CFLAGS := $(WARN) $(OPT) -g $(CORE_INC) -Iprofiler/common -Iprofiler/output -Itests/output
OUTPUT_TEST_LDFLAGS := -Wl,--build-id
OUTPUT_TEST_SRCS := tests/output/fixture.c $(PROFILER_OUTPUT_SRCS) profiler/common/vocab.c
OUTPUT_TEST_DEPS := $(OUTPUT_TEST_SRCS) $(PROFILER_OUTPUT_HDRS) tests/output/fixture.h tests/output/check.h tests/check.h
OUTPUT_SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

$(OUTPUT_BUILD)/test_output_unit: tests/output/test_output_unit.c $(OUTPUT_TEST_DEPS) | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CC) $(OUTPUT_TEST_CFLAGS) $(OUTPUT_TEST_LDFLAGS) -o $@ $< $(OUTPUT_TEST_SRCS) $(PROFILER_OUTPUT_LDLIBS)

$(OUTPUT_BUILD)/test_output_unit_asan: tests/output/test_output_unit.c $(OUTPUT_TEST_DEPS) | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CC) $(OUTPUT_TEST_CFLAGS) $(OUTPUT_SAN_FLAGS) $(OUTPUT_TEST_LDFLAGS) -o $@ $< $(OUTPUT_TEST_SRCS) $(PROFILER_OUTPUT_LDLIBS)

$(OUTPUT_BUILD)/test_output_tools: tests/output/test_output_tools.c $(OUTPUT_TEST_DEPS) | $(BUILD)/.dir
	@mkdir -p $(@D)
	$(CC) $(OUTPUT_TEST_CFLAGS) $(OUTPUT_TEST_LDFLAGS) -o $@ $< $(OUTPUT_TEST_SRCS) $(PROFILER_OUTPUT_LDLIBS)

OUTPUT_TESTS := $(OUTPUT_BUILD)/test_output_unit $(OUTPUT_BUILD)/test_output_unit_asan \
                $(OUTPUT_BUILD)/test_output_tools
ALL_TARGETS += $(OUTPUT_TESTS)

.PHONY: suite-output-unit suite-output-unit-asan suite-output-tools
suite-output-unit: $(OUTPUT_BUILD)/test_output_unit
	@$(RUN_SUITE) output-unit $<
# Leak checking stays on: libdwfl's state is freed by dwfl_end.
suite-output-unit-asan: $(OUTPUT_BUILD)/test_output_unit_asan
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(RUN_SUITE) output-unit-asan $<
suite-output-tools: $(OUTPUT_BUILD)/test_output_tools
	@$(RUN_SUITE) output-tools $<
TEST_SUITES += output-unit output-unit-asan output-tools
