#!/bin/sh
# rootfs.sh DEST — a fresh copy of a cached Debian root in which a real
# systemd boots as PID 1 (systemd-nspawn), for tests/systemd.
#
# The cached root is built once with debootstrap from the machine's own apt
# source and kept outside the repository; it is rebuilt when it is missing
# or when its stamp (suite, package list, set-up format) differs. It is
# built beside the cache and renamed into place only when complete, so an
# interrupted build is never used. Each run gets its own copy (DEST) so no
# run sees the state of another.
#
# Environment: NETPOLLD_TEST_CACHE (default /var/cache/netpolld-test),
# NETPOLLD_TEST_SUITE (default bookworm), NETPOLLD_TEST_MIRROR (default:
# read from /etc/apt/sources.list{,.d/*.list,.d/*.sources}).
set -eu

CACHE=${NETPOLLD_TEST_CACHE:-/var/cache/netpolld-test}
SUITE=${NETPOLLD_TEST_SUITE:-bookworm}
# What the installed netpolld links against, what boots, and what the tests
# run inside (ps, ss, stat, python3 for small servers).
PKGS=systemd,systemd-sysv,dbus,libconfig9,libyaml-0-2,libsystemd0,procps,iproute2,python3
# Bump when the set-up below changes: a different stamp rebuilds the root.
FORMAT=1
STAMP="suite=$SUITE format=$FORMAT packages=$PKGS"
ROOT=$CACHE/$SUITE-root

say() { printf 'rootfs: %s\n' "$*" >&2; }

# Removes a build folder, unmounting first what an interrupted debootstrap
# may have left mounted in it (proc, sys), and never crossing into a mount.
remove_build() {
	grep -F " $1/" /proc/mounts | awk '{ print $2 }' | sort -r |
		while read -r m; do umount -l "$m" || true; done
	rm -rf --one-file-system "$1"
}
die() { say "$*"; exit 1; }

[ $# -eq 1 ] || die "usage: $0 DEST"
DEST=$1
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, systemd-nspawn)"
[ ! -e "$DEST" ] || die "$DEST exists"
command -v debootstrap >/dev/null || die "debootstrap is not installed"

# The first Debian archive URI for SUITE among the enabled apt sources;
# apt itself reads only *.list and *.sources, so do we.
mirror() {
	if [ -n "${NETPOLLD_TEST_MIRROR:-}" ]; then
		echo "$NETPOLLD_TEST_MIRROR"
		return
	fi
	{
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		# deb [options] URI SUITE COMPONENTS...
		sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" |
			awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }'
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# deb822: paragraphs of "Key: value" (continuation lines indented).
		awk -v suite="$SUITE" '
			function flush() {
				if (!found && types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") &&
				    tolower(enabled) != "no" && uris != "") {
					split(uris, u, " "); print u[1]; found = 1; exit
				}
				types = suites = uris = enabled = ""
			}
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			/^[A-Za-z-]+:/ {
				key = tolower(substr($0, 1, index($0, ":") - 1))
				val = substr($0, index($0, ":") + 1)
				gsub(/^[ \t]+|[ \t]+$/, "", val)
				if (key == "types") types = val
				else if (key == "suites") suites = val
				else if (key == "uris") uris = val
				else if (key == "enabled") enabled = val
				next
			}
			END { flush() }' "$f"
	done
	} | grep -E '^(https?|file):' | head -n 1
}

build_root() {
	url=$(mirror)
	[ -n "$url" ] || die "no apt source for $SUITE found; set NETPOLLD_TEST_MIRROR"
	tmp=$(mktemp -d "$CACHE/.build.XXXXXX")
	say "building $ROOT from $url (debootstrap, about a minute)"
	if ! debootstrap --variant=minbase --include="$PKGS" "$SUITE" "$tmp/root" "$url" \
		>"$tmp/debootstrap.log" 2>&1; then
		tail -n 40 "$tmp/debootstrap.log" >&2
		remove_build "$tmp"
		die "debootstrap failed"
	fi
	r=$tmp/root
	# Nothing periodic or hardware-bound may run during a test: mask it.
	for u in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
		e2scrub_all.timer e2scrub_reap.service fstrim.timer systemd-pstore.service \
		man-db.timer; do
		ln -sfn /dev/null "$r/etc/systemd/system/$u"
	done
	echo netpolld-test >"$r/etc/hostname"
	# Keep the machine-id debootstrap made: an empty one would mean "first
	# boot", and systemd would then enable every unit with an [Install]
	# section (netpolld.service and netpolld.socket included).
	[ -s "$r/etc/machine-id" ] || die "debootstrap left no /etc/machine-id"
	rm -rf "$r/var/cache/apt/archives/"*.deb "$r/var/lib/apt/lists/"*
	printf '%s\n' "$STAMP" >"$r/.netpolld-test-stamp"
	if [ -e "$ROOT" ]; then
		mv "$ROOT" "$tmp/old"
	fi
	mv "$r" "$ROOT"
	remove_build "$tmp"
	say "built $ROOT"
}

mkdir -p "$CACHE"
# One builder at a time; a copy is never taken of a root being replaced.
exec 9>"$CACHE/lock"
flock -w 900 9 || die "cannot lock $CACHE/lock"
# Left by an interrupted build: never complete, never used.
for b in "$CACHE"/.build.*; do
	[ ! -e "$b" ] || remove_build "$b"
done
if [ ! -f "$ROOT/.netpolld-test-stamp" ] || [ "$(cat "$ROOT/.netpolld-test-stamp")" != "$STAMP" ]; then
	build_root
fi
mkdir -p "$(dirname "$DEST")"
cp -a --reflink=auto "$ROOT" "$DEST"
