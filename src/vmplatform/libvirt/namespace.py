"""The XML namespace of vmplatform's element in a domain's ``<metadata>``.

Its own module, free of imports, so the hook can tell a domain without a
manifest from the raw XML before it loads anything.
"""

NAMESPACE = "https://vmplatform.dev/xmlns/manifest/1"
PREFIX = "vmplatform"
ELEMENT = "manifest"
