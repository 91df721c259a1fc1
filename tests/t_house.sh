#!/bin/bash
# scripts/check_house.py over tiny fake trees: a clean tree passes, and each
# house rule broken once is named (include cycle, core/ reaching db/, SQL in
# a stage, a long function, a long stage file), while a long kernel carrying
# its justifying comment is let through.  Then quill's own tree must pass.
. "$(dirname "$0")/lib.sh"
CHECK="$ROOT/scripts/check_house.py"

# tree DIR: a clean three-room tree (core/a, db/b using sqlite3, stages/s).
tree() {
    mkdir -p "$1/core" "$1/db" "$1/stages"
    printf '#include "a.h"\nint a_one(void) {\n    return 1;\n}\n' >"$1/core/a.c"
    printf 'int a_one(void);\n' >"$1/core/a.h"
    printf '#include <sqlite3.h>\n#include "a.h"\nint b_n(sqlite3 *db) {\n    return sqlite3_changes(db);\n}\n' >"$1/db/b.c"
    printf '#include "b.h"\nint s_run(void) {\n    return 0;\n}\n' >"$1/stages/s.c"
}
# body N: a C function body of N lines in total (signature and braces too).
body() {
    echo "int $2(void) {"
    for _ in $(seq 1 $(($1 - 3))); do echo '    x++; /* { not a brace */'; done
    echo '    return "}" [0];'
    echo "}"
}
clean() { tree clean && python3 "$CHECK" clean; }
check "a clean tree passes" clean

cycle() { tree cyc; printf '#include "s.h"\n' >>cyc/db/b.c; printf '#include "b.h"\n' >cyc/stages/s.h;
    python3 "$CHECK" cyc; }
expect_fail "an include cycle is named" 'modules that include each other: b, s' cycle
expect_fail "db/ including stages/ is named" 'db/b.c: db/ includes stages/s.h' cycle

core_db() { tree cd; printf '#include "b.h"\n' >>cd/core/a.c; python3 "$CHECK" cd; }
expect_fail "core/ including db/ is named" 'core/a.c: core/ includes db/b.h' core_db

sql() { tree sq; printf 'int s_n(void *db) {\n    return sqlite3_changes(db);\n}\n' >>sq/stages/s.c;
    python3 "$CHECK" sq; }
expect_fail "sqlite3_ in a stage is named" 'stages/s.c: calls sqlite3_ outside db/' sql

long81() { tree lf; { echo; echo '/* Long. */'; body 81 too_long; } >>lf/core/a.c; python3 "$CHECK" lf; }
expect_fail "a function of 81 lines is named" 'core/a.c:7: function too_long is 81 lines' long81
long80() { tree l80; { echo; body 80 just_fits; } >>l80/core/a.c; python3 "$CHECK" l80; }
check "a function of 80 lines passes" long80
kernel() { tree k; { echo; echo '/* A GEMM micro-kernel.'; echo '** house: long kernel, because unrolled'; echo '*/';
    body 120 gemm; } >>k/core/a.c; python3 "$CHECK" k; }
check "a long kernel with its reason passes" kernel
noreason() { tree nr; { echo; echo '/* house: long kernel, because */'; body 120 gemm; } >>nr/core/a.c;
    python3 "$CHECK" nr; }
expect_fail "the marker without a reason is not enough" 'function gemm is 120 lines' noreason
struct_init() { tree si; { echo 'static const int t[] = {'; seq 1 100 | sed 's/$/,/'; echo '};'; } >>si/core/a.c;
    python3 "$CHECK" si; }
check "a long table is not a function" struct_init

stage400() { tree st; seq 1 396 | sed 's|^|// |' >>st/stages/s.c; python3 "$CHECK" st; }
expect_fail "a stage file of 400 lines is named" 'stages/s.c: 400 lines' stage400
stage399() { tree s9; seq 1 395 | sed 's|^|// |' >>s9/stages/s.c; python3 "$CHECK" s9; }
check "a stage file of 399 lines passes" stage399

# make never installs: with a library missing (a pkg-config that knows
# none) it stops, naming scripts/deps.sh, and calls neither apt-get nor sudo;
# goals that compile nothing do not check
mkdir fakebin
printf '#!/bin/sh\n[ "$1" = --exists ] && exit 1\nexit 0\n' >fakebin/pkg-config
printf '#!/bin/sh\ntouch "%s/installed"\nexit 0\n' "$SCRATCH" >fakebin/apt-get
cp fakebin/apt-get fakebin/sudo
chmod +x fakebin/*
nolib() { PATH="$SCRATCH/fakebin:$PATH" make -n -C "$ROOT" BUILD="$SCRATCH/b" "$@"; }
expect_fail "make with a library missing names the package" \
    'missing Debian packages: .*libsqlite3-dev' nolib quill
expect_fail "  ... and scripts/deps.sh" '^  scripts/deps.sh installs them' nolib quill
check "  ... and installs nothing" test ! -e installed
check "make clean does not check" nolib clean
check "make check-house does not check" nolib check-house
grep -q -- '-MMD -MP' "$ROOT/Makefile" && check "objects track their headers (-MMD -MP)" true ||
    fail "objects track their headers (-MMD -MP)"
# quill's own tree keeps every rule (ARCHITECTURE.md)
check "quill's sources keep the house rules" python3 "$CHECK" "$ROOT"
summary
