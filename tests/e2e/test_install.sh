#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2317 # single quotes on purpose (bash -c scripts, $MAINPID in the unit); helpers run through check are reachable
# `make install` / `make uninstall` with PREFIX and DESTDIR: the binary, the
# systemd unit (ExecStart at the installed binary, accepted by
# `systemd-analyze verify`), the man page (renders without a warning) and
# the example configuration, with their modes; uninstall removes them all.
# Everything goes into a temporary directory: nothing is installed on the host.
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

TMP=$(mktemp -d /tmp/tcptune-install.XXXXXX)
cleanup_add "rm -rf $TMP"
DEST=$TMP/root
BIN=$DEST/usr/sbin/tcptune
UNIT=$DEST/usr/lib/systemd/system/tcptune.service
MAN=$DEST/usr/share/man/man8/tcptune.8
EXAMPLE=$DEST/etc/tcptune/tcptune.conf.example

# mk TARGET [VAR=VALUE...]: make in the repository, into DESTDIR, with none
# of what a calling make (`make test`) or the environment would pass down.
# -o build/tcptune: install the binary as built (lib.sh checked it is there)
# rather than rebuild it if a source changed meanwhile: under test is the
# installation.
mk() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u PREFIX -u SBINDIR -u MANDIR -u SYSCONFDIR -u SYSTEMD_UNITDIR \
		make -s -C "$ROOT" -o build/tcptune DESTDIR="$DEST" "$@" >"$TMP/make.log" 2>&1
}

mk install PREFIX=/usr
rc=$?
check "make install DESTDIR=... PREFIX=/usr exits 0 (rc $rc)" [ "$rc" = 0 ]
[ "$rc" = 0 ] || log "$(cat "$TMP/make.log")"

# mode_is FILE MODE: FILE is a regular file with exactly MODE (octal)
mode_is() { [ -f "$1" ] && [ "$(stat -c %a "$1")" = "$2" ]; }
check "binary at /usr/sbin/tcptune, mode 755" mode_is "$BIN" 755
check "unit at /usr/lib/systemd/system/tcptune.service, mode 644" mode_is "$UNIT" 644
check "man page at /usr/share/man/man8/tcptune.8, mode 644" mode_is "$MAN" 644
check "example configuration at /etc/tcptune/tcptune.conf.example, mode 644" mode_is "$EXAMPLE" 644
check "no tcptune.conf installed (only the example)" [ ! -e "$DEST/etc/tcptune/tcptune.conf" ]
check "installed binary is the built one" cmp "$BIN" "$ROOT/build/tcptune"
check "example configuration is the repository's" cmp "$EXAMPLE" "$ROOT/tcptune.conf.example"
# the only files: nothing else under DESTDIR
extra=$(cd "$DEST" && find . -type f ! -path ./usr/sbin/tcptune ! -path ./usr/lib/systemd/system/tcptune.service \
	! -path ./usr/share/man/man8/tcptune.8 ! -path ./etc/tcptune/tcptune.conf.example)
check "nothing else installed${extra:+: $extra}" [ -z "$extra" ]

version=$("$BIN" --version 2>&1)
check "installed binary runs: --version says '$version'" grep -qE '^tcptune [0-9]+\.[0-9]+' <<<"$version"

check "unit: ExecStart=/usr/sbin/tcptune run" grep -qx 'ExecStart=/usr/sbin/tcptune run' "$UNIT"
check "man page: its drop-in example starts /usr/sbin/tcptune" \
	grep -q '^ExecStart=/usr/sbin/tcptune run' "$MAN"
check "unit: no @PLACEHOLDER@ left" bash -c '! grep -q "@[A-Z_]*@" "$1"' _ "$UNIT"
check "unit: reload is SIGHUP" grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$UNIT"
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT")
check "unit: capability bounding set is the agent's ($caps)" \
	[ "$caps" = "CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_SYS_ADMIN CAP_SYS_PTRACE" ]
# ProtectKernelTunables= would make /sys/fs/bpf read-only, whatever ReadWritePaths= says
check "unit: no ProtectKernelTunables (it would forbid pinning)" bash -c '! grep -q "^ProtectKernelTunables=yes" "$1"' _ "$UNIT"
check "unit: bpf(2) allowed by the system call filter" grep -qx 'SystemCallFilter=bpf' "$UNIT"

# systemd-analyze verify checks that ExecStart='s binary exists on this host
# (/usr/sbin/tcptune is not installed here) and, for Documentation=man:,
# that `man` finds the page. --root= would look for /bin/kill and the
# default dependencies (sysinit.target) inside DESTDIR too, so verify a copy
# of the installed unit whose ExecStart names the binary under DESTDIR
# instead (the file name stays tcptune.service: it names the unit), with
# MANPATH pointing at the installed man page.
if command -v systemd-analyze >/dev/null; then
	mkdir "$TMP/verify"
	sed "s|^ExecStart=/usr/sbin/tcptune |ExecStart=$BIN |" "$UNIT" >"$TMP/verify/tcptune.service"
	MANPATH=$DEST/usr/share/man systemd-analyze verify "$TMP/verify/tcptune.service" >"$TMP/verify.out" 2>&1
	rc=$?
	if [ "$rc" = 0 ] && [ ! -s "$TMP/verify.out" ]; then
		pass "systemd-analyze verify accepts the installed unit, with no message"
	else
		fail "systemd-analyze verify (rc $rc): $(cat "$TMP/verify.out")"
	fi
else
	fail "systemd-analyze not found (package systemd): cannot verify the unit"
fi

# The man page: groff with every warning, mandoc's linter, and man(1) itself
groff -man -ww -z "$MAN" >"$TMP/groff.out" 2>&1
rc=$?
check "groff -man -ww renders the man page without a warning (rc $rc) $(head -c 300 "$TMP/groff.out")" \
	[ "$rc" = 0 -a ! -s "$TMP/groff.out" ]
if command -v mandoc >/dev/null; then
	mandoc -Tlint "$MAN" >"$TMP/mandoc.out" 2>&1
	rc=$?
	check "mandoc -Tlint finds nothing (rc $rc) $(head -c 300 "$TMP/mandoc.out")" [ "$rc" = 0 -a ! -s "$TMP/mandoc.out" ]
else
	fail "mandoc not found (package mandoc): cannot lint the man page"
fi
MANWIDTH=80 man -l "$MAN" >"$TMP/man.txt" 2>"$TMP/man.err"
check "man -l renders it: NAME, SYNOPSIS and every command" \
	bash -c 'grep -q "^NAME" "$1" && grep -q "^SYNOPSIS" "$1" && for c in run flows top status check-config; do grep -q "tcptune $c" "$1" || exit 1; done' _ "$TMP/man.txt"
check "man -l says nothing on stderr $(head -c 200 "$TMP/man.err")" [ ! -s "$TMP/man.err" ]
check "man finds tcptune(8) under the installed MANDIR" \
	bash -c '[ "$(MANPATH=$1 man -w 8 tcptune)" = "$2" ]' _ "$DEST/usr/share/man" "$MAN"
# every command of --help has its section in the man page (roff's \- is -)
for c in $("$BIN" --help | awk '/^Commands:/ { on = 1; next } on && NF == 0 { exit } on { print $1 }'); do
	check "man page documents the '$c' command" bash -c 'sed "s/\\\\-/-/g" "$1" | grep -q "^\.SS $2\b"' _ "$MAN" "$c"
done

# A configuration the admin wrote survives a reinstall and an uninstall.
echo "# mine" >"$DEST/etc/tcptune/tcptune.conf"
mk install PREFIX=/usr
check "reinstall leaves an existing tcptune.conf alone" grep -qx "# mine" "$DEST/etc/tcptune/tcptune.conf"

mk uninstall PREFIX=/usr
rc=$?
check "make uninstall exits 0 (rc $rc)" [ "$rc" = 0 ]
for f in "$BIN" "$UNIT" "$MAN" "$EXAMPLE"; do
	check "uninstall removed ${f#"$DEST"}" [ ! -e "$f" ]
done
check "uninstall kept the admin's tcptune.conf" grep -qx "# mine" "$DEST/etc/tcptune/tcptune.conf"
rm "$DEST/etc/tcptune/tcptune.conf"
mk uninstall PREFIX=/usr
rc=$?
check "uninstall again (nothing left to remove) exits 0 (rc $rc), and removes the empty /etc/tcptune" \
	[ "$rc" = 0 -a ! -e "$DEST/etc/tcptune" ]
left=$(find "$DEST" -type f)
check "no file left under DESTDIR${left:+: $left}" [ -z "$left" ]

# PREFIX's default (/usr/local), and the directory variables
mk install MANDIR=/usr/local/man SYSCONFDIR=/opt/etc
check "default PREFIX: binary in /usr/local/sbin" [ -x "$DEST/usr/local/sbin/tcptune" ]
check "default PREFIX: unit in /usr/local/lib/systemd/system, ExecStart=/usr/local/sbin/tcptune" \
	grep -qx 'ExecStart=/usr/local/sbin/tcptune run' "$DEST/usr/local/lib/systemd/system/tcptune.service"
check "MANDIR and SYSCONFDIR are honoured" [ -f "$DEST/usr/local/man/man8/tcptune.8" -a -f "$DEST/opt/etc/tcptune/tcptune.conf.example" ]
mk uninstall MANDIR=/usr/local/man SYSCONFDIR=/opt/etc
left=$(find "$DEST" -type f)
check "and uninstall with the same variables removes them all${left:+: $left}" [ -z "$left" ]
finish
