# Shell functions shared by the set-up scripts (source this file).

# The URI of the Debian archive this machine's apt already uses, read from its
# configuration (deb822 .sources files or one-line .list files): the project names
# no mirror of its own.
debian_archive_uri() {
    local uri
    uri=$(awk '
        /^URIs:/ { uris = $2 }
        /^Suites:/ && uris != "" && $0 ~ /bookworm([ \t]|$)/ { print uris; exit }
        /^$/ { uris = "" }' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
    if [ -z "$uri" ]; then
        uri=$(awk '$1 == "deb" && $3 == "bookworm" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
            /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n1)
    fi
    if [ -z "$uri" ]; then
        echo "no Debian bookworm entry in this machine's apt configuration: add one, then run this again" >&2
        return 1
    fi
    printf '%s\n' "$uri"
}
