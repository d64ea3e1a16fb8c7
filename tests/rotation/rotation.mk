# tests/rotation/rotation.mk — profiles cut while the program runs:
# gperftools' CPUPROFILESIGNAL switch and PROFCORE_PERIOD rotation, through
# the preload library (tests/rotation/run.sh has the checks).
#
# Suites (each prints "N passed, N failed"):
#   rotation-signal   CPUPROFILESIGNAL toggled three times, its refusals,
#                     CPUPROFILE_TIMER_SIGNAL: a program owning SIGPROF profiled
#   rotation-period   PROFCORE_PERIOD=1s for 10 periods: conservation
#                     across files, contiguity, SIGKILL, bad values
ROT_B := $(BUILD)/rotation
$(ROT_B)/spin: tests/rotation/spin.c profiler/include/profcore_profiler.h
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 -g -fno-omit-frame-pointer -Iprofiler/include -o $@ $< -ldl

ALL_TARGETS += $(ROT_B)/spin
DEPS_PACKAGES += golang-go python3
ROT_DEPS := $(PRELOAD_LIB_SO) $(ROT_B)/spin
ROT_SUITES := rotation-signal rotation-period
TEST_SUITES += $(ROT_SUITES)
.PHONY: $(addprefix suite-,$(ROT_SUITES))
suite-rotation-signal: $(ROT_DEPS)
	@$(RUN_SUITE) rotation-signal tests/rotation/run.sh signal $(PRELOAD_LIB_DIR) $(ROT_B)
suite-rotation-period: $(ROT_DEPS)
	@$(RUN_SUITE) rotation-period tests/rotation/run.sh period $(PRELOAD_LIB_DIR) $(ROT_B)

# The C API under rotation, plain, ASan+UBSan and TSan (profiler.mk's
# object variants; profiler.mk is included before this fragment).
ROT_API_BINS := $(ROT_B)/rotate_api $(ROT_B)/rotate_api-asan $(ROT_B)/rotate_api-tsan
$(ROT_B)/rotate_api: tests/rotation/rotate_api.c tests/check.h $(PROF_LIB_A) profiler/include/profcore_profiler.h
	@mkdir -p $(@D)
	$(CC) $(PROF_PROG_CFLAGS) $(PROF_PROG_LDFLAGS) -o $@ $< $(PROF_LIB_A) $(PROF_LDLIBS)
$(ROT_B)/rotate_api-asan: tests/rotation/rotate_api.c tests/check.h $(PROF_OBJS_asan) profiler/include/profcore_profiler.h
	@mkdir -p $(@D)
	$(CC) $(PROF_PROG_CFLAGS) $(PROF_SAN_ASAN) $(PROF_PROG_LDFLAGS) -o $@ $< $(PROF_OBJS_asan) $(PROF_LDLIBS)
$(ROT_B)/rotate_api-tsan: tests/rotation/rotate_api.c tests/check.h $(PROF_OBJS_tsan) profiler/include/profcore_profiler.h
	@mkdir -p $(@D)
	$(CC) $(PROF_PROG_CFLAGS) $(PROF_SAN_TSAN) $(PROF_PROG_LDFLAGS) -o $@ $< $(PROF_OBJS_tsan) $(PROF_LDLIBS)
ALL_TARGETS += $(ROT_API_BINS)
TEST_SUITES += rotation-api
.PHONY: suite-rotation-api
suite-rotation-api: $(ROT_API_BINS)
	@$(RUN_SUITE) rotation-api tests/rotation/run.sh api $(PRELOAD_LIB_DIR) $(ROT_B)
