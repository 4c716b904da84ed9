"""Resolution and support: what a VM's properties are on a platform, which
platforms a host supports, verdicts, merges, manifests, and their words.

Depends on the model only; the adapters (qemu, qmp, libvirt, fleet) and the
cli build on it.
"""
