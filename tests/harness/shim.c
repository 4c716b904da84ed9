/*
 * LD_PRELOAD shim: make this process's TAP devices look like Linux < 6.2.
 *
 * Linux 6.2 added TUN_F_USO4/TUN_F_USO6; older kernels reject any
 * TUNSETOFFLOAD whose mask has an unknown bit with EINVAL. QEMU probes USO
 * with TUNSETOFFLOAD(TUN_F_CSUM|TUN_F_USO4|TUN_F_USO6) and silently clears
 * host_uso/guest_uso4/guest_uso6 when that fails, so failing exactly those
 * calls reproduces an old host without rebooting into an old kernel.
 * Every other ioctl is passed through untouched.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/ioctl.h>

#define VMP_TUNSETOFFLOAD 0x400454d0UL /* _IOW('T', 208, unsigned int) */
#define VMP_TUN_F_USO4 0x20UL
#define VMP_TUN_F_USO6 0x40UL

typedef int (*ioctl_fn)(int, unsigned long, ...);

/* glibc's prototype: int ioctl(int fd, unsigned long request, ...). */
int ioctl(int fd, unsigned long request, ...)
{
    static ioctl_fn real_ioctl;
    va_list ap;
    unsigned long arg;

    /* ioctl takes at most one argument; reading it as a full register keeps
     * pointer and integer arguments bit-identical to what glibc would pass. */
    va_start(ap, request);
    arg = va_arg(ap, unsigned long);
    va_end(ap);

    /* The request is compared in its 32-bit form, as the kernel does. */
    if ((unsigned int)request == VMP_TUNSETOFFLOAD &&
        (arg & (VMP_TUN_F_USO4 | VMP_TUN_F_USO6)) != 0) {
        errno = EINVAL;
        return -1;
    }
    if (real_ioctl == NULL) {
        real_ioctl = (ioctl_fn)dlsym(RTLD_NEXT, "ioctl");
        if (real_ioctl == NULL) {
            errno = ENOSYS;
            return -1;
        }
    }
    return real_ioctl(fd, request, arg);
}
