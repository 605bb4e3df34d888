#!/bin/sh
# Each public header compiles alone, as strict C11 (and C++ when a compiler is there),
# including nothing from core/ beyond the other public header.
set -eu
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for h in qkv/plugin.h qkv/qkv.h qkv/precision.h qkv/cpu_features.h qkv/backend_util.h qkv/wtype.h; do
	printf '#include <%s>\nint main(void) { return 0; }\n' "$h" >"$tmp/t.c"
	${CC:-cc} -std=c11 -pedantic -Wall -Wextra -Werror -I"$src/plugins/include" \
		-I"$src/core/include" -c "$tmp/t.c" -o "$tmp/t.o"
	echo "ok: <$h> alone, -std=c11 -pedantic -Werror"
done
# The plugin headers must not need the core's include folder at all.
printf '#include <qkv/plugin.h>\n#include <qkv/precision.h>\n#include <qkv/backend_util.h>\n' >"$tmp/p.c"
${CC:-cc} -std=c11 -pedantic -Werror -I"$src/plugins/include" -c "$tmp/p.c" -o "$tmp/p.o"
echo "ok: <qkv/plugin.h>, <qkv/precision.h>, <qkv/backend_util.h> with only plugins/include on the path"
if command -v c++ >/dev/null 2>&1; then
	printf '#include <qkv/qkv.h>\n#include <qkv/precision.h>\n#include <qkv/backend_util.h>\n#include <qkv/cpu_features.h>\n#include <qkv/wtype.h>\nint main() { return 0; }\n' >"$tmp/t.cc"
	c++ -std=c++11 -pedantic -Wall -Werror -I"$src/plugins/include" -I"$src/core/include" \
		-c "$tmp/t.cc" -o "$tmp/tcc.o"
	echo "ok: <qkv/qkv.h> and the plugin headers from C++11"
fi
