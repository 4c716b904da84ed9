"""Independent oracles: expectations written by hand from their sources
(QEMU's source and QAPI schema, kernel commits and measured kernels, distro
os-release files), never derived from the code under test."""
