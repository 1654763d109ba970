#!/usr/bin/env bash
# `make check-layers` (and `make test`, before the unit tests): the agent's
# layers (the Makefile's "Layout") hold, as far as includes show them.
#  - agent/core/: C standard headers, <linux/types.h>, "tcptune.h" and
#    "core/..." headers only: no libbpf, no system or library header (<sys/...>,
#    <unistd.h>, <ini.h>...), nothing of runtime/ or cmd/.
#  - agent/runtime/: no "cmd/..." header.
# One line per include that breaks them, naming the file and the header, and
# exit status 1; "check-layers: ok" and 0 otherwise.
set -u
cd "$(dirname "$0")/.." || exit 1
shopt -s nullglob

# C11's headers, less those that reach the OS or the process's state
# (signal.h, threads.h, time.h, locale.h, setjmp.h)
STD_HEADERS=" assert.h complex.h ctype.h errno.h fenv.h float.h inttypes.h iso646.h limits.h math.h stdalign.h
 stdarg.h stdatomic.h stdbool.h stddef.h stdint.h stdio.h stdlib.h stdnoreturn.h string.h tgmath.h uchar.h wchar.h
 wctype.h "
STD_HEADERS=${STD_HEADERS//$'\n'/}
CORE_RULE='core/ takes only C standard headers, <linux/types.h>, "tcptune.h" and "core/..." headers'
RUNTIME_RULE='runtime/ takes no cmd/ header (cmd -> runtime -> core)'

rc=0
bad() {
	echo "check-layers: $1 includes $2: $3"
	rc=1
}

# FILE:LINE HEADER for each #include of the files given
includes() {
	grep -nE '^[[:space:]]*#[[:space:]]*include' "$@" /dev/null |
		sed -E 's/^([^:]*:[0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]*([<"][^>"]*[>"]|[^[:space:]]*).*/\1 \2/'
}

core=(agent/core/*.[ch])
runtime=(agent/runtime/*.[ch])
if [ ${#core[@]} = 0 ] || [ ${#runtime[@]} = 0 ]; then
	echo "check-layers: no agent/core or agent/runtime sources (run from the repository)"
	exit 1
fi

while read -r where h; do
	case $h in
	'<linux/types.h>' | '"tcptune.h"') ;;
	\<*\>)
		n=${h#<}
		n=${n%>}
		[[ $STD_HEADERS == *" $n "* ]] || bad "$where" "$h" "$CORE_RULE"
		;;
	*) [[ $h =~ ^\"core/[A-Za-z0-9_]+\.h\"$ ]] || bad "$where" "$h" "$CORE_RULE" ;;
	esac
done < <(includes "${core[@]}")

while read -r where h; do
	[[ $h == *cmd/* ]] && bad "$where" "$h" "$RUNTIME_RULE"
done < <(includes "${runtime[@]}")

[ "$rc" = 0 ] && echo "check-layers: ok (${#core[@]} core, ${#runtime[@]} runtime files)"
exit "$rc"
