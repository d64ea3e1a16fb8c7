# tests/vendor/ — the vendoring check: core/profcore.h copied alone into an
# empty directory and built into small C and C++ programs (g++ and clang++,
# C++11 and C++17, one a private copy with PROFCORE_API static), each run
# from real signals with conservation checked.  See tests/vendor/run.
VENDOR_OUT := $(BUILD)/vendor
TEST_SUITES += vendor
DEPS_PACKAGES += gcc g++ clang binutils

.PHONY: suite-vendor
suite-vendor:
	@$(RUN_SUITE) vendor tests/vendor/run $(VENDOR_OUT)
