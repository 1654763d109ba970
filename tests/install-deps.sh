#!/usr/bin/env bash
# Installs the Debian 12 packages tcptune's build, tests and benchmarks use,
# only when something is missing (so `make run` / `make test` stay quick).
set -eu
need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
for p in clang-14 clang-format-14 llvm-14 libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make gcc \
	libclang-rt-14-dev iperf3 iproute2 iputils-ping libcmocka-dev jq procps util-linux python3 \
	libmicrohttpd-dev libinih-dev prometheus mandoc man-db groff-base systemd yamllint python3-kubernetes valgrind strace \
	qemu-system-x86 busybox-static kmod cpio xz-utils debian-archive-keyring; do
	have_pkg "$p" || need+=("$p")
done
# test_deploy installs npm packages (schema checks): Debian's node and npm
# only where none is installed (an image's own node would conflict)
command -v npm >/dev/null || need+=(nodejs npm)
[ ${#need[@]} = 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "tcptune: missing packages: ${need[*]}; run as root (or apt-get install them)" >&2
	exit 1
fi
echo "tcptune: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
# prometheus's postinst starts the system daemon (init script or systemd unit,
# both asked through policy-rc.d); the tests run their own Prometheus, so deny
# service starts during the install unless a policy (Docker's) is in place.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
