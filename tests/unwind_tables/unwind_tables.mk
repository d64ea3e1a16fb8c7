# tests/unwind_tables/unwind_tables.mk — the unwind-table builder and its use
# in the profiler (profiler/src/unwind_tables.c, unwind_objects.c).
# Included by profiler/profiler.mk.
#
# Suites:
#   unwind-oracle       every compiled rule of python3, libc, libm, libz,
#                       liblzma and the vDSO against readelf's frames-interp
#   unwind-oracle-asan  the same, builder and oracle under ASan + UBSan
#   unwind-same-sample  the walker's frames on live samples of the omit-fp
#                       workload equal libdwfl's (dwfl_getthread_frames) on
#                       a 64 KiB copy of the same stack, on >= 99 %
#   unwind-e2e          profcore record on a -fomit-frame-pointer program,
#                       Debian's python3 and xz: >= 99 % of samples reach main
#                       (go tool pprof -traces); fp vs tables on an fp build
#   unwind-hard         the program's own signal handler, sigaltstack, PLT
#                       stubs, vDSO leaves, a thread blocked in read(2), an
#                       unregistered thread, a dlopen/dlclose storm at 10 kHz
#   unwind-hard-tsan    the storm under TSan (no report, exact conservation)
UT_B := $(BUILD)/unwind_tables
UT_BUILDER_SRCS := profiler/src/unwind_tables.c profiler/output/cfi_fde.c
UT_BUILDER_DEPS := $(UT_BUILDER_SRCS) profiler/src/unwind_tables.h profiler/output/cfi_fde.h \
                   core/profcore_unwind.h profiler/common/profile.h profiler/common/vocab.h tests/check.h
UT_CFLAGS := $(WARN) -O1 -g $(CORE_INC) -Iprofiler/src -Iprofiler/common -Iprofiler/output
UT_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

$(UT_B)/oracle: tests/unwind_tables/oracle.c $(UT_BUILDER_DEPS)
	@mkdir -p $(@D)
	$(CC) $(UT_CFLAGS) -o $@ $< $(UT_BUILDER_SRCS) -ldw -lelf
$(UT_B)/oracle-asan: tests/unwind_tables/oracle.c $(UT_BUILDER_DEPS)
	@mkdir -p $(@D)
	$(CC) $(UT_CFLAGS) $(UT_SAN) -o $@ $< $(UT_BUILDER_SRCS) -ldw -lelf
# The workload: what Debian ships is built like this (no frame pointers).
$(UT_B)/omitfp_workload: tests/unwind_tables/omitfp_workload.c
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 -g -fomit-frame-pointer -pthread -o $@ $< -lz -llzma
$(UT_B)/fp_workload: tests/unwind_tables/omitfp_workload.c
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 -g $(PROF_FP) -pthread -o $@ $< -lz -llzma

# Hard places: the C API, -fomit-frame-pointer, -fno-builtin (PLT calls).
$(UT_B)/hard_places: tests/unwind_tables/hard_places.c $(PROF_LIB_A) profiler/include/profcore_profiler.h
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 -g -fomit-frame-pointer -fno-builtin -pthread -Iprofiler/include -o $@ $< \
	    $(PROF_LIB_A) $(PROF_LDLIBS) -ldl
$(UT_B)/libut_dl.so: tests/unwind_tables/ut_dl_lib.c
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 -g -fomit-frame-pointer -shared -fPIC -o $@ $<

# The same-sample oracle: the walker against libdwfl on copied stacks.
$(UT_B)/same_sample: tests/unwind_tables/same_sample.c tests/unwind_tables/omitfp_workload.c $(PROF_LIB_A) $(UT_BUILDER_DEPS)
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 -g -fomit-frame-pointer -pthread $(CORE_INC) -Iprofiler/src -Iprofiler/common -Iprofiler/include \
	    -Iprofiler/output -Itests/unwind_tables -o $@ $< $(PROF_LIB_A) $(PROF_LDLIBS) -llzma

# The dlopen/dlclose storm under TSan: publication, grace period, refresh.
$(UT_B)/hard_places-tsan: tests/unwind_tables/hard_places.c $(PROF_OBJS_tsan) profiler/include/profcore_profiler.h
	@mkdir -p $(@D)
	$(CC) $(WARN) -O1 -g -fomit-frame-pointer -fno-builtin -fsanitize=thread -pthread -Iprofiler/include \
	    -o $@ $< $(PROF_OBJS_tsan) $(PROF_LDLIBS) -ldl

$(UT_B)/libut_nocfi.so: tests/unwind_tables/ut_nocfi_lib.c
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 -g0 $(PROF_FP) -fno-asynchronous-unwind-tables -fno-unwind-tables -shared -fPIC -nostartfiles -o $@ $<
	@! readelf --debug-dump=frames $@ | grep -q FDE || { echo "$@ still has CFI"; rm -f $@; exit 1; }

UT_BINS := $(UT_B)/libut_nocfi.so $(UT_B)/hard_places-tsan $(UT_B)/same_sample $(UT_B)/oracle $(UT_B)/oracle-asan $(UT_B)/omitfp_workload $(UT_B)/fp_workload \
           $(UT_B)/hard_places $(UT_B)/libut_dl.so
ALL_TARGETS += $(UT_BINS)
DEPS_PACKAGES += libdw-dev libelf-dev binutils liblzma-dev zlib1g-dev golang-go python3 xz-utils linux-perf
TEST_SUITES += unwind-oracle unwind-oracle-asan unwind-same-sample unwind-e2e unwind-hard unwind-hard-tsan

.PHONY: suite-unwind-oracle suite-unwind-oracle-asan suite-unwind-same-sample suite-unwind-e2e suite-unwind-hard suite-unwind-hard-tsan
suite-unwind-oracle: $(UT_B)/oracle
	@$(RUN_SUITE) unwind-oracle $<
suite-unwind-oracle-asan: $(UT_B)/oracle-asan
	@ASAN_OPTIONS=detect_leaks=1 $(RUN_SUITE) unwind-oracle-asan $<
suite-unwind-same-sample: $(UT_B)/same_sample
	@$(RUN_SUITE) unwind-same-sample $< 1.5
suite-unwind-e2e: $(UT_B)/omitfp_workload $(UT_B)/fp_workload $(PROF_LIB_SO) $(PROF_B)/profcore
	@$(RUN_SUITE) unwind-e2e tests/unwind_tables/e2e.sh $(BUILD)
suite-unwind-hard: $(UT_B)/hard_places $(UT_B)/libut_dl.so $(UT_B)/libut_nocfi.so
	@$(RUN_SUITE) unwind-hard tests/unwind_tables/hard_places.sh $(BUILD)

# ---- benchmark (reported, not asserted): table bytes/row, build time, walk
# cost fp vs tables at 8/32/64 frames.  `make bench-unwind`.
$(BUILD)/bench/unwind-bench: bench/unwind_bench.c $(PROF_LIB_A) $(UT_BUILDER_DEPS)
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 -g $(PROF_FP) -pthread $(CORE_INC) -Iprofiler/src -Iprofiler/common -Iprofiler/include \
	    -Iprofiler/output -o $@ $< $(PROF_LIB_A) $(PROF_LDLIBS)
ALL_TARGETS += $(BUILD)/bench/unwind-bench
BENCH_TARGETS += bench-unwind
.PHONY: bench-unwind
bench-unwind: $(BUILD)/bench/unwind-bench
	$< 20000 | tee $(BUILD)/bench/unwind.txt
suite-unwind-hard-tsan: $(UT_B)/hard_places-tsan $(UT_B)/libut_dl.so
	@TSAN_OPTIONS=halt_on_error=1 $(RUN_SUITE) unwind-hard-tsan bash -c '\
	    out=$$($(UT_B)/hard_places-tsan dlstorm $(UT_B)/dlstorm-tsan.pb.gz $(UT_B)/libut_dl.so 2>&1); rc=$$?; \
	    echo "$$out" | grep -E "stat dl_cycles|snapshots published|conservation|ThreadSanitizer"; \
	    if [ $$rc -eq 0 ] && echo "$$out" | grep -q "conservation ok"; then echo "1 passed, 0 failed"; \
	    else echo "0 passed, 1 failed"; exit 1; fi'
