# proofs/unwind/unwind.mk — WP + RTE on the walker (core/profcore_unwind.h),
# separate from the core's proofs: suite proofs-unwind-wp (100 % of goals,
# per-function baseline proofs/unwind/wp-goals.txt, committed cache
# proofs/unwind/wp-cache).  `make proofs-unwind-baseline` rewrites the baseline.
PROOFS_UNWIND_OUT := $(BUILD)/proofs-unwind
VERIFY_SUITES += proofs-unwind-wp
DEPS_PACKAGES += frama-c-base why3 z3 cvc4
.PHONY: suite-proofs-unwind-wp proofs-unwind-baseline proofs-unwind-aarch64
suite-proofs-unwind-wp:
	@$(RUN_SUITE) proofs-unwind-wp proofs/unwind/run-wp $(PROOFS_UNWIND_OUT)
proofs-unwind-baseline:
	@PROOFS_UPDATE_BASELINE=1 proofs/unwind/run-wp $(PROOFS_UNWIND_OUT)
# The aarch64 configuration (LR, PAC stripping), fresh cache: minutes, not in make check.
proofs-unwind-aarch64:
	@PROOFS_UNWIND_ARCH=aarch64 proofs/unwind/run-wp $(PROOFS_UNWIND_OUT)-aarch64
