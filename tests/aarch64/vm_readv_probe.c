/* vm_readv_probe.c — does process_vm_readv on our own pid work here?  The
 * profiler's fault-proof reads (the frame-pointer walk of unregistered
 * threads) need it; qemu-user does not implement it (ENOSYS).  Prints
 * "process_vm_readv: ok" or "process_vm_readv: errno N (text)"; exits 0
 * when it works, 1 when not. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

int main(void) {
    long src = 42, dst = 0;
    struct iovec local = {&dst, sizeof dst}, remote = {&src, sizeof src};
    long n = syscall(SYS_process_vm_readv, (long)getpid(), &local, 1L, &remote, 1L, 0L);
    if (n == (long)sizeof dst && dst == 42) {
        printf("process_vm_readv: ok\n");
        return 0;
    }
    printf("process_vm_readv: errno %d (%s)\n", errno, strerror(errno));
    return 1;
}
