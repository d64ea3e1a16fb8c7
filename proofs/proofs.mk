# proofs/: Frama-C WP+RTE on core/profcore.h and the SPIN model of the protocol.
# See proofs/README.md.  Outputs under $(BUILD)/proofs.
PROOFS_OUT := $(BUILD)/proofs
DEPS_PACKAGES += frama-c-base why3 z3 cvc4 spin
# proofs-wp fails on any unproved goal not named in baseline/wp-unproved.txt
# (empty today), on any property -report-classify finds unknown, and when a
# function loses goals.  The committed
# cache (proofs/wp-cache) makes it a few minutes instead of a cold run.
VERIFY_SUITES += proofs-spin proofs-wp proofs-eva

.PHONY: suite-proofs-wp suite-proofs-spin suite-proofs-eva proofs-baseline
suite-proofs-wp:
	@$(RUN_SUITE) proofs-wp proofs/run-wp $(PROOFS_OUT)
suite-proofs-spin:
	@$(RUN_SUITE) proofs-spin proofs/run-spin $(PROOFS_OUT)
suite-proofs-eva:
	@$(RUN_SUITE) proofs-eva proofs/run-eva $(PROOFS_OUT)
# Rewrites proofs/baseline/wp-goals.txt from a fresh run (review the diff).
proofs-baseline:
	@PROOFS_UPDATE_BASELINE=1 proofs/run-wp $(PROOFS_OUT)
