#!/usr/bin/env bash
# fetch.sh NAME: downloads the Debian kernel NAME (see common.sh) and unpacks it
# into $KERNEL_CACHE/NAME (default /var/cache/tcptune-kernels/NAME), with
# modules.dep made, for boot.sh. Nothing of the host's own apt setup or /boot is
# used or touched: a private apt configuration under $KERNEL_CACHE/.apt/SUITE
# lists only that suite and trusts only Debian's archive keyring.
#
# Quick and offline once the kernel is there (KERNEL_REFRESH=1 fetches again).
# Exit: 0 the kernel is ready (KERNEL_CACHE/NAME/kernel.env describes it);
# 77 it cannot be had here (one line on stderr says why: the matrix reports
# it skipped); 2 usage; 1 anything else.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"

name=${1:-}
[ $# = 1 ] && kernel_row "$name" || {
	echo "usage: $0 NAME (one of: $(echo $DEFAULT_KERNELS))" >&2
	exit 2
}
DIR=$KERNEL_CACHE/$name
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# tried in order: a suite that left deb.debian.org (bullseye after its LTS) is on the archive
MIRRORS=${KERNEL_MIRRORS:-http://deb.debian.org/debian http://archive.debian.org/debian}

skip() { echo "fetch $name: $*" >&2; exit "$FETCH_SKIP"; }

if [ -s "$DIR/kernel.env" ] && [ "${KERNEL_REFRESH:-0}" = 0 ]; then
	exit 0
fi

for t in apt-get apt-cache dpkg-deb depmod modprobe flock; do
	command -v "$t" >/dev/null || skip "$t not found (install-deps.sh installs it)"
done
[ -r "$KEYRING" ] || skip "$KEYRING missing (apt-get install debian-archive-keyring)"
mkdir -p "$KERNEL_CACHE" || skip "cannot create $KERNEL_CACHE"

# one fetch of NAME at a time (parallel matrices share the cache)
exec 9>"$KERNEL_CACHE/.$name.lock"
flock 9
[ -s "$DIR/kernel.env" ] && [ "${KERNEL_REFRESH:-0}" = 0 ] && exit 0

WORK=$(mktemp -d "$KERNEL_CACHE/.fetch-$name.XXXXXX") || skip "cannot write in $KERNEL_CACHE"
trap 'rm -rf "$WORK"' EXIT

APTDIR=$KERNEL_CACHE/.apt/$K_SUITE
mkdir -p "$APTDIR"/lists/partial "$APTDIR"/cache/archives/partial "$APTDIR"/sources.list.d "$APTDIR"/preferences.d
: >"$APTDIR/status"
APT_OPTS=(
	-o Dir::Etc::SourceList="$APTDIR/sources.list"
	-o Dir::Etc::SourceParts="$APTDIR/sources.list.d"
	-o Dir::Etc::Preferences="$APTDIR/preferences"
	-o Dir::Etc::PreferencesParts="$APTDIR/preferences.d"
	-o Dir::State::Lists="$APTDIR/lists"
	-o Dir::State::status="$APTDIR/status"
	-o Dir::Cache="$APTDIR/cache"
	-o APT::Architecture=amd64 -o APT::Architectures::=amd64
	-o Acquire::Languages=none
	-o APT::Sandbox::User=root
	# the archive's Release files are past their Valid-Until; the signature still holds
	-o Acquire::Check-Valid-Until=false
	-q
)

updated=
for m in $MIRRORS; do
	echo "deb [signed-by=$KEYRING] $m $K_SUITE main" >"$APTDIR/sources.list"
	# apt-get update exits 0 on some failed downloads: ask for the index afterwards
	if apt-get "${APT_OPTS[@]}" -o APT::Update::Error-Mode=any update >"$WORK/update.log" 2>&1 &&
		apt-cache "${APT_OPTS[@]}" show linux-image-amd64 >/dev/null 2>&1; then
		updated=$m
		break
	fi
done
[ -n "$updated" ] || skip "no mirror serves $K_SUITE ($MIRRORS): $(grep -E '^(E|W):' "$WORK/update.log" | head -1)"

# linux-image-amd64 is a metapackage: the image is what it depends on, when
# that is the version the matrix wants; else the newest image of that version
ver_re="^linux-image-${K_VERSION//./\\.}[.-][0-9].*-amd64$"
pkg=$(apt-cache "${APT_OPTS[@]}" depends linux-image-amd64 2>/dev/null |
	awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
if ! [[ "$pkg" =~ $ver_re ]]; then
	pkg=$(apt-cache "${APT_OPTS[@]}" pkgnames linux-image- 2>/dev/null | grep -E "$ver_re" |
		grep -vE -- '-(rt|cloud)-amd64$' | sort -V | tail -1)
fi
[ -n "$pkg" ] || skip "no linux-image-$K_VERSION package for amd64 in $K_SUITE"

echo "fetch $name: $pkg from $updated $K_SUITE" >&2
(cd "$WORK" && apt-get "${APT_OPTS[@]}" download "$pkg") >"$WORK/download.log" 2>&1 ||
	skip "apt-get download $pkg failed: $(grep -E '^(E|W):' "$WORK/download.log" | head -1)"
deb=$(ls "$WORK"/*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || skip "apt-get download $pkg left no .deb"
pkgver=$(dpkg-deb -f "$deb" Version)
dpkg-deb -x "$deb" "$WORK/root" || skip "dpkg-deb -x $deb failed"
rm -f "$deb"

vmlinuz=$(ls "$WORK"/root/boot/vmlinuz-* 2>/dev/null | head -1)
[ -n "$vmlinuz" ] || skip "$pkg has no boot/vmlinuz-*"
kver=${vmlinuz##*/vmlinuz-}
# newer packages put the modules in usr/lib/modules (merged /usr): depmod and
# modprobe -d look in DIR/lib/modules
if [ ! -e "$WORK/root/lib" ] && [ -d "$WORK/root/usr/lib/modules/$kver" ]; then
	ln -s usr/lib "$WORK/root/lib"
fi
[ -d "$WORK/root/lib/modules/$kver/kernel" ] || skip "$pkg has no modules for $kver"
depmod -b "$WORK/root" "$kver" 2>"$WORK/depmod.log" ||
	skip "depmod -b ... $kver failed: $(head -1 "$WORK/depmod.log")"

cat >"$WORK/root/kernel.env" <<EOT
# written by tests/kernels/fetch.sh
KNAME=$name
KVER=$kver
KPKG=$pkg
KPKGVER=$pkgver
KSUITE=$K_SUITE
KMIRROR=$updated
EOT
rm -rf "$DIR" && mv "$WORK/root" "$DIR" || { echo "fetch $name: cannot move it to $DIR" >&2; exit 1; }
echo "fetch $name: $kver ($pkg $pkgver) in $DIR" >&2
