# tests/gperftools/gperftools.mk — gperftools 2.10's own CPU-profiler test,
# src/tests/profiler_unittest.sh with its four programs (profiler1..4 from
# profiler_unittest.cc), built against libprofcore.so under the name
# libprofiler.so and run unchanged: every check must pass, its FORK test
# (a program that forks and execs itself under CPUPROFILE leaves three
# profiles) included.
#
# The source comes from Debian's archive: `make deps` runs tools/debian-source,
# which fetches google-perftools 2.10-1's source package with apt through a
# private deb-src copy of the machine's sources (a fresh Debian 12 has no
# deb-src configured) and unpacks it into build/gperftools/src.
#
# Suite (prints "N passed, N failed"):
#   gperftools-unittest   profiler_unittest.sh against libprofcore.so
GPT_B := $(BUILD)/gperftools
GPT_SRC := $(GPT_B)/src
GPT_FETCHED := $(GPT_SRC)/.fetched
GPT_LIBDIR := $(GPT_B)/lib
GPT_PROGS := $(addprefix $(GPT_B)/,profiler1_unittest profiler2_unittest profiler3_unittest profiler4_unittest)

$(GPT_FETCHED): tools/debian-source
	@tools/debian-source google-perftools 2.10-1 $(GPT_SRC)
DEPS_TARGETS += $(GPT_FETCHED)
DEPS_PACKAGES += apt g++ google-perftools

# Our library under gperftools' name (it has no SONAME: the programs record
# libprofiler.so and find this link through their rpath).
$(GPT_LIBDIR)/libprofiler.so: $(PRELOAD_LIB_SO)
	@mkdir -p $(@D)
	ln -sf $(abspath $(PRELOAD_LIB_SO)) $@

# As gperftools' Makefile.am builds them: 1 and 2 without threads
# (-DNO_THREADS), 3 and 4 with; 2 and 4 add -lstacktrace there, a library
# of gperftools' own build that libprofcore.so has no counterpart of and
# the programs call nothing from.
GPT_CXXFLAGS := -g -O2 -pthread -Itests/gperftools -I$(GPT_SRC)/src
GPT_LINK := -L$(GPT_LIBDIR) -Wl,-rpath,$(abspath $(GPT_LIBDIR)) -lprofiler
GPT_SRCS = $(GPT_SRC)/src/tests/profiler_unittest.cc $(GPT_SRC)/src/tests/testutil.cc
$(GPT_B)/profiler1_unittest $(GPT_B)/profiler2_unittest: GPT_THREADS := -DNO_THREADS
$(GPT_PROGS): $(GPT_FETCHED) $(GPT_LIBDIR)/libprofiler.so tests/gperftools/config.h
	$(CXX) $(GPT_CXXFLAGS) $(GPT_THREADS) -o $@ $(GPT_SRCS) $(GPT_LINK)

TEST_SUITES += gperftools-unittest
.PHONY: suite-gperftools-unittest
suite-gperftools-unittest: $(GPT_PROGS)
	@$(RUN_SUITE) gperftools-unittest tests/gperftools/run.sh $(GPT_B) $(PRELOAD_LIB_SO) $(GPT_SRC)/src/tests/profiler_unittest.sh
