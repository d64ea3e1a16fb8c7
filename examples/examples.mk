# examples/examples.mk — the interim core demo (`make core-demo`; `make demo`
# runs it until the profiler's demo replaces DEMO_TARGET).

EXAMPLES_OUT := $(BUILD)/examples
$(EXAMPLES_OUT)/core_demo: examples/core_demo.c core/profcore.h
	@mkdir -p $(@D)
	$(CC) $(WARN) -D_GNU_SOURCE $(OPT) $(CORE_INC) -pthread -o $@ $< -lrt

ALL_TARGETS += $(EXAMPLES_OUT)/core_demo

.PHONY: core-demo
core-demo: $(EXAMPLES_OUT)/core_demo
	@$<
