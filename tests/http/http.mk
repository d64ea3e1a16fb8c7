# tests/http/http.mk — the pprof endpoint (profiler/src/http_*.c,
# profiler/common/endpoint.c, PROFCORE_HTTP, `profcore record -p`).
#
# Suites (each prints "N passed, N failed"):
#   http-endpoint  tests/http/run.sh endpoint: go tool pprof against a
#                  served program, dormancy, concurrency, bad requests (~25 s)
#   http-lifecycle tests/http/run.sh lifecycle: shutdown, the program's own
#                  profile, unix sockets, bad PROFCORE_HTTP, forks (~20 s)
#   http-record    tests/http/run.sh record-p: profcore record -p PID (~5 s)
#   http-replay    the fuzz harness over its committed corpus, ASan+UBSan
#   http-api-asan  tests/http/api_stress.c: the C API with concurrent
#   http-api-tsan  clients, against the runtime's ASan / TSan objects (~10 s)
#   http-fuzz      libFuzzer on the route parser, the address parser and
#                  the window state machine (HTTP_FUZZ_SECONDS, make fuzz)

HTTP_B := $(BUILD)/http
HTTP_T := tests/http
HTTP_FUZZ_SECONDS ?= 15
HTTP_FUZZ_SRCS := $(HTTP_T)/fuzz_http.c profiler/src/http_route.c profiler/common/endpoint.c
HTTP_FUZZ_HDRS := profiler/src/http.h profiler/common/endpoint.h
HTTP_FUZZ_INC := -Iprofiler/src -Iprofiler/common

$(HTTP_B)/server: $(HTTP_T)/server.c
	@mkdir -p $(@D)
	$(CC) $(WARN) -O1 -g -fno-omit-frame-pointer -o $@ $<
$(HTTP_B)/window_cpu: $(HTTP_T)/window_cpu.c
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 -o $@ $<
$(HTTP_B)/fuzz_http: $(HTTP_FUZZ_SRCS) $(HTTP_FUZZ_HDRS)
	@mkdir -p $(@D)
	$(CLANG) $(WARN) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(HTTP_FUZZ_INC) \
	    -o $@ $(HTTP_FUZZ_SRCS)
# The corpus replay driver of the CLI's harnesses, any compiler.
$(HTTP_B)/replay_http: profiler/cli/fuzz_replay.c $(HTTP_FUZZ_SRCS) $(HTTP_FUZZ_HDRS)
	@mkdir -p $(@D)
	$(CC) $(WARN) -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
	    $(HTTP_FUZZ_INC) -o $@ profiler/cli/fuzz_replay.c $(HTTP_FUZZ_SRCS)

# The C API under the sanitizers: the runtime's ASan and TSan objects.
$(HTTP_B)/api_stress-asan: $(HTTP_T)/api_stress.c tests/check.h $(PROF_OBJS_asan) profiler/include/profcore_profiler.h
	@mkdir -p $(@D)
	$(CC) $(PROF_PROG_CFLAGS) $(PROF_SAN_ASAN) -o $@ $< $(PROF_OBJS_asan) $(PROF_LDLIBS)
$(HTTP_B)/api_stress-tsan: $(HTTP_T)/api_stress.c tests/check.h $(PROF_OBJS_tsan) profiler/include/profcore_profiler.h
	@mkdir -p $(@D)
	$(CC) $(PROF_PROG_CFLAGS) $(PROF_SAN_TSAN) -o $@ $< $(PROF_OBJS_tsan) $(PROF_LDLIBS)

HTTP_BINS := $(HTTP_B)/server $(HTTP_B)/window_cpu $(HTTP_B)/fuzz_http $(HTTP_B)/replay_http \
             $(HTTP_B)/api_stress-asan $(HTTP_B)/api_stress-tsan
ALL_TARGETS += $(HTTP_BINS)
HTTP_RUN_DEPS := $(PROF_LIB_SO) $(BUILD)/profiler/profcore $(HTTP_B)/server $(HTTP_B)/window_cpu
DEPS_PACKAGES += curl golang-go binutils libmicrohttpd-dev libmicrohttpd12 clang libclang-rt-14-dev

TEST_SUITES += http-endpoint http-lifecycle http-record http-replay http-api-asan http-api-tsan
FUZZ_SUITES += http-fuzz
.PHONY: suite-http-endpoint suite-http-lifecycle suite-http-record suite-http-replay suite-http-fuzz suite-http-api-asan suite-http-api-tsan
suite-http-api-asan: $(HTTP_B)/api_stress-asan
	@$(RUN_SUITE) http-api-asan env ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $<
suite-http-api-tsan: $(HTTP_B)/api_stress-tsan
	@$(RUN_SUITE) http-api-tsan env TSAN_OPTIONS=halt_on_error=1 $<
suite-http-endpoint: $(HTTP_RUN_DEPS)
	@$(RUN_SUITE) http-endpoint $(HTTP_T)/run.sh endpoint $(BUILD)/profiler $(HTTP_B)
suite-http-lifecycle: $(HTTP_RUN_DEPS)
	@$(RUN_SUITE) http-lifecycle $(HTTP_T)/run.sh lifecycle $(BUILD)/profiler $(HTTP_B)
suite-http-record: $(HTTP_RUN_DEPS)
	@$(RUN_SUITE) http-record $(HTTP_T)/run.sh record-p $(BUILD)/profiler $(HTTP_B)
suite-http-replay: $(HTTP_B)/replay_http
	@$(RUN_SUITE) http-replay $(HTTP_B)/replay_http $(HTTP_T)/corpus
suite-http-fuzz: $(HTTP_B)/fuzz_http
	@$(RUN_SUITE) http-fuzz tests/cli/run_fuzz.sh $(HTTP_FUZZ_SECONDS) $(HTTP_B)/fuzz-scratch \
	    $(HTTP_B)/fuzz_http:$(HTTP_T)/corpus
