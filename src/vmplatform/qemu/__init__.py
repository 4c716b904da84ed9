"""The QEMU adapter: reading QEMU's argv into the model, the front-end that
runs QEMU with a platform, the binary and its machine catalog, a running QEMU
over QMP, and live migration.
"""
