/* The walker's signal-frame constants against the C library's own
 * <ucontext.h> / <signal.h>, for the architecture this is compiled for
 * (x86_64 natively, aarch64 with aarch64-linux-gnu-gcc).  Compile-only: a
 * wrong offset is a build error. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stddef.h>
#include <ucontext.h>

#include "profcore_unwind.h"

#if defined(__x86_64__)
_Static_assert(offsetof(ucontext_t, uc_mcontext.gregs) + 8 * REG_RIP == PCU_UC_PC, "rip");
_Static_assert(offsetof(ucontext_t, uc_mcontext.gregs) + 8 * REG_RSP == PCU_UC_SP, "rsp");
_Static_assert(offsetof(ucontext_t, uc_mcontext.gregs) + 8 * REG_RBP == PCU_UC_FP, "rbp");
/* rt_sigframe starts with the 8-byte pretcode the handler's ret pops. */
_Static_assert(PCU_SIGFRAME_UC_OFFSET == 0, "ucontext at rsp in __restore_rt");
#elif defined(__aarch64__)
_Static_assert(offsetof(ucontext_t, uc_mcontext.pc) == PCU_UC_PC, "pc");
_Static_assert(offsetof(ucontext_t, uc_mcontext.sp) == PCU_UC_SP, "sp");
_Static_assert(offsetof(ucontext_t, uc_mcontext.regs) + 8 * 29 == PCU_UC_FP, "x29");
_Static_assert(offsetof(ucontext_t, uc_mcontext.regs) + 8 * 30 == PCU_UC_LR, "x30");
/* rt_sigframe = { siginfo_t info; ucontext_t uc; } */
_Static_assert(sizeof(siginfo_t) == PCU_SIGFRAME_UC_OFFSET, "ucontext after siginfo");
#endif

int pcu_ucontext_layout_checked(void);
int pcu_ucontext_layout_checked(void) { return 1; }
