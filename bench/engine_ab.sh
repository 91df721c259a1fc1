# Sourced by the run.sh of a bench program linked against the engine
# (core/*.o), such as bench/decode_step and bench/sample_step.
# engine_bins SOURCE NAME builds quill, links SOURCE against $BUILD's objects
# as $BUILD/bench/NAME and, with BASE_BUILD=dir (another tree's build/, `make`
# run there), against that tree's objects and headers too, for an A/B run
# interleaved old then new; it sets bins (the programs) and names (base,
# this).  field KEY reads KEY=value from a program's output line.
BUILD=${BUILD:-build}

engine_link() { # build dir (its tree's headers), source, output
    gcc -std=c11 -D_GNU_SOURCE -O2 $([ "${PORTABLE:-0}" = 1 ] || echo -march=native) -fopenmp \
        -I"$1/../core" -o "$3" "$2" $(ls "$1"/core/*.o) "$1/gen/cmudict.o" \
        $(pkg-config --libs sqlite3 libzstd libarchive yaml-0.1 jansson libutf8proc libxxhash \
            libcurl ompi-c) -lm
}

engine_bins() { # source, name
    make -s -j2 quill >/dev/null
    mkdir -p "$BUILD/bench"
    engine_link "$BUILD" "$1" "$BUILD/bench/$2"
    bins=("$BUILD/bench/$2")
    names=(this)
    if [ -n "${BASE_BUILD:-}" ]; then
        engine_link "$BASE_BUILD" "$1" "$BUILD/bench/$2_base"
        bins=("$BUILD/bench/$2_base" "${bins[@]}")
        names=(base "${names[@]}")
    fi
}

field() { sed -E "s/.* $1=([^ ]+).*/\1/"; }
