"""libvirt integration: the manifest in domain ``<metadata>``, domain XML as a
VM description, pins written the libvirt way, and the ``qemu`` hook program.

Modules: :mod:`.metadata` (read/write the manifest), :mod:`.domain` (domain
XML -> the QEMU arguments libvirt would pass), :mod:`.pin` (a resolution ->
domain XML), :mod:`.drift` (does the XML still carry the manifest's pins),
:mod:`.hook` (``/etc/libvirt/hooks/qemu``). Nothing here talks
to a libvirt daemon: every function works on XML text, so it runs where the
XML is (a management host, a hook, a test). This package imports nothing at
start-up, so the hook starts fast for the operations it does not check.
"""
