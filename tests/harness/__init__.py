"""What the tests share: the real-guest harness, the captured corpus, fuzz inputs,
the markers' requirements and the exercise gate.

Boots the Debian guest kernel (scripts/fetch-guest-kernel) with a busybox
initramfs under QEMU/TCG on a TAP backend, drives QMP through ``qemu.qmp``
and live-migrates between two QEMU processes on this host. Test-support code
only: the product lives in ``src/vmplatform``.

Typical use::

    requirements.require_guest_and_shim()          # pytest.skip with reasons
    with Guest("src") as src, Guest("dst", incoming_defer=True,
                                     preload=[build_uso_shim()]) as dst:
        src.wait_ready()                            # VMP-READY on serial
        src.virtio_status().guest_features          # negotiated, as int
        result = migrate(src, dst)                  # source's final status
        dst.wait_exit(30); dst.stderr_text()

Through the front-end instead of plain QEMU (the PID stays QEMU's: it execs)::

    Guest("dst", incoming_defer=True, preload=[shim],
          launcher=vmplatform_launcher("linux-6.1"))

Modules: paths (where things are), initramfs (cpio builder + init script),
shim/shim.c (LD_PRELOAD "Linux < 6.2" TAP), qmp (sync QMPClient facade),
virtio (masks and the guest's sysfs bits, on top of vmplatform.model.virtio_bits),
guest (one QEMU, plain or via ``vmplatform qemu``), migration, cli (run
``vmplatform`` as a process, e.g. ``probe --json`` under the shim),
requirements (what each marker needs, skip reasons), usage (a test used what
its markers do not declare), exercised (the gate: catalog entries no test
exercised), corpus (tests/data's hosts, domains, manifests), fuzz_inputs
(generated bad input per format), qemu_offer, residue, sockets, realkernels.
"""
