"""Real-guest test harness for vmplatform's end-to-end tests.

Boots the Debian guest kernel with a busybox initramfs under QEMU/TCG on a
TAP backend, drives QMP through ``qemu.qmp`` and migrates between two QEMU
processes on this host. Test-support code only: the product lives in
``src/vmplatform``.
"""
