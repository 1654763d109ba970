# shellcheck shell=bash
# Shared by tests/kernels/*.sh: the kernels of the matrix and where they are kept.

# NAME SUITE VERSION: a Debian kernel, the suite it comes from and the upstream
# version its image package must carry (linux-image-VERSION[.-]...-amd64).
KERNEL_TABLE="
deb11-5.10 bullseye 5.10
deb12-6.1 bookworm 6.1
deb13-6.12 bookworm-backports 6.12
"
# the matrix `make test-kernels` runs when KERNELS is not set
DEFAULT_KERNELS="deb11-5.10 deb12-6.1 deb13-6.12"

# Unpacked kernels (one directory per NAME), their apt state and initramfs images.
KERNEL_CACHE=${KERNEL_CACHE:-/var/cache/tcptune-kernels}

# fetch.sh exits with this when a kernel cannot be had (no mirror, no package):
# the matrix reports that kernel SKIPPED, never passed. Same code as a skipped test.
FETCH_SKIP=77

# kernel_row NAME: sets K_SUITE and K_VERSION; false for an unknown NAME
kernel_row() {
	local n s v
	while read -r n s v; do
		[ "$n" = "$1" ] || continue
		K_SUITE=$s K_VERSION=$v
		return 0
	done <<<"$KERNEL_TABLE"
	return 1
}

# What starts a kernel oops, BUG or panic report (an extended regex), and a
# console or dmesg log as lines without the CR or the time stamps.
OOPS_RE='(BUG:|Oops|general protection fault|kernel BUG at|Kernel panic)'
_kernel_log_lines() { sed -e 's/\r//g' -e 's/^\[ *[0-9.]*\] //' "$1" 2>/dev/null; }

# oops_summary LOG: one line naming a guest kernel's first oops, BUG or
# panic in LOG: its headline, where it was (RIP), and the functions of its
# call trace, innermost first (not the unreliable "? " ones). Nothing when
# LOG has none. A failure's last lines are what a CI report keeps; the trace
# scrolls out of them.
oops_summary() {
	_kernel_log_lines "$1" | awk -v re="$OOPS_RE" '
		!head && $0 ~ re { head = $0; next }
		head && !rip && /^RIP: / { rip = $0; sub(/^RIP: [0-9a-f]+:/, "", rip) }
		head && /Call Trace:/ { intrace = 1; next }
		intrace && (/^ *(Modules linked in|---\[ end trace)/ || /^RIP: /) { intrace = 0; done = 1 }
		intrace && !done && n < 12 {
			f = $0; sub(/^ */, "", f)
			if (f ~ /^(<|\? )/) next
			sub(/[+ ].*/, "", f)
			if (f != "") calls = calls (n++ ? " < " : "") f
		}
		END {
			if (!head) exit
			printf "%s", head
			if (rip) printf "; RIP %s", rip
			if (calls) printf "; calls: %s", calls
			printf "\n"
		}'
}

# emulator_artefact SUMMARY: an oops (oops_summary's line) that qemu's TCG
# causes, not the guest kernel: a vCPU running a translated int3 that the
# kernel has already patched back (text_poke_bp, as tracepoints are attached
# or detached), documented in docs/kernels.md.
emulator_artefact() { [[ $1 == "Oops: int3"* ]]; }

# died_without_agent LOG: the guest's kernel died (an oops or a panic in the
# console log LOG) while no test's agent was running: the last line the e2e
# tests printed on starting or stopping one (tests/lib.sh) before it says
# "stopped". False when no test had started one.
died_without_agent() {
	_kernel_log_lines "$1" | awk -v re="$OOPS_RE" '
		/^# tcptune agent: / { agent = $4 }
		$0 ~ re { found = 1; exit }
		END { exit !(found && agent == "stopped") }'
}
