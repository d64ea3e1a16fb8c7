/* config.h — what gperftools' ./configure would have found on Debian 12 for
 * the two files of its CPU-profiler test that read it
 * (src/tests/profiler_unittest.cc, src/tests/testutil.cc, through
 * config_for_unittests.h and base/simple_mutex.h).  Only these: the test
 * links against libprofcore.so as libprofiler.so, none of gperftools' own
 * library is built. */
#ifndef PROFCORE_GPERFTOOLS_TEST_CONFIG_H
#define PROFCORE_GPERFTOOLS_TEST_CONFIG_H
#define HAVE_PTHREAD 1
#define HAVE_UNISTD_H 1
#define HAVE_STDINT_H 1
#define HAVE_SYS_RESOURCE_H 1
#endif
