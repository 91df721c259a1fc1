# quill: `make` builds ./quill, `make test` runs every test, `make bench`
# runs the benchmarks.  BUILD=dir puts objects elsewhere (parallel work
# trees), PORTABLE=1 drops -march=native for a binary that runs on any x86-64.
BUILD ?= build
CC ?= gcc
PORTABLE ?= 0

# make never installs anything: it only checks the libraries and, when one
# is missing, names the Debian packages and scripts/deps.sh, which installs
# them (scripts/quickstart.sh and .ci/run call it); goals that compile
# nothing skip the check.
ifneq ($(filter-out clean format format-check check-house,$(or $(MAKECMDGOALS),all)),)
DEPS_STATUS := $(shell scripts/deps.sh --check 1>&2; echo $$?)
ifneq ($(DEPS_STATUS),0)
$(error missing dependencies, see the message above)
endif
endif

PKGS := sqlite3 libzstd libarchive yaml-0.1 jansson libutf8proc libxxhash libcurl libcrypto libmicrohttpd ompi-c
ARCH := $(if $(filter 1,$(PORTABLE)),,-march=native)
WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-format-truncation
BASEFLAGS := -MMD -MP -std=c11 -D_GNU_SOURCE -fopenmp -g $(WARN) -I. -Icore -Idb -Istages \
             $(shell pkg-config --cflags $(PKGS))
CFLAGS_OPT := $(BASEFLAGS) -O2 $(ARCH)
CFLAGS_ASAN := $(BASEFLAGS) -O1 $(ARCH) -fsanitize=address,undefined -fno-omit-frame-pointer
LDLIBS := $(shell pkg-config --libs $(PKGS)) -lm -fopenmp

SRC := $(sort $(wildcard core/*.c db/*.c stages/*.c))
MIGRATIONS := $(sort $(wildcard db/[0-9]*.sql))
GEN := $(BUILD)/gen/migrations.c
CMUDICT := $(BUILD)/gen/cmudict.o
WEB := $(sort $(wildcard web/*.html web/*.css web/*.js))
OBJ := $(SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/migrations.o $(BUILD)/gen/web.o $(CMUDICT)
OBJ_ASAN := $(SRC:%.c=$(BUILD)/asan/%.o) $(BUILD)/asan/gen/migrations.o $(BUILD)/gen/web.o \
            $(CMUDICT)
LIBOBJ_ASAN := $(filter-out $(BUILD)/asan/stages/main.o,$(OBJ_ASAN))
TESTS := $(patsubst tests/%.c,$(BUILD)/asan/%,$(wildcard tests/test_*.c))

.PHONY: all test bench clean format
all: quill

quill: $(BUILD)/quill
	cp $< $@

$(BUILD)/quill: $(OBJ)
	$(CC) -o $@ $^ $(LDLIBS)

$(BUILD)/asan/quill: $(OBJ_ASAN)
	$(CC) -fsanitize=address,undefined -o $@ $^ $(LDLIBS)

$(GEN): scripts/embed_sql.sh $(MIGRATIONS)
	@mkdir -p $(dir $@)
	scripts/embed_sql.sh $(MIGRATIONS) > $@.tmp && mv $@.tmp $@

# The CMU Pronouncing Dictionary as core/cmudict.c reads it, built once and
# linked in as read-only data (no file to find or parse at run time).
$(BUILD)/gen/gen_cmudict: scripts/gen_cmudict.c core/cmudict_format.h
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -Werror -Icore -o $@ $<

$(BUILD)/gen/cmudict.bin: $(BUILD)/gen/gen_cmudict data/cmudict/cmudict.dict
	$< data/cmudict/cmudict.dict $@.tmp && mv $@.tmp $@

$(CMUDICT): $(BUILD)/gen/cmudict.bin
	printf '.section .rodata\n.balign 16\n.global cmu_blob\ncmu_blob:\n.incbin "%s"\n.global cmu_blob_end\ncmu_blob_end:\n.section .note.GNU-stack,"",@progbits\n' $< | $(CC) -c -x assembler -o $@ -

# The review desk's page (quill serve), compiled in as bytes.
$(BUILD)/gen/web.c: scripts/embed_web.sh $(WEB)
	@mkdir -p $(dir $@)
	scripts/embed_web.sh $(WEB) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/web.o: $(BUILD)/gen/web.c
	$(CC) -O1 -c -o $@ $<

$(BUILD)/gen/migrations.o: $(GEN)
	$(CC) $(CFLAGS_OPT) -c -o $@ $<

$(BUILD)/asan/gen/migrations.o: $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ASAN) -c -o $@ $<

$(BUILD)/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ASAN) -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_OPT) -c -o $@ $<

$(BUILD)/asan/test_%: tests/test_%.c $(LIBOBJ_ASAN)
	$(CC) $(CFLAGS_ASAN) -o $@ $< $(LIBOBJ_ASAN) $(LDLIBS)

test: quill $(BUILD)/asan/quill $(TESTS)
	@scripts/deps.sh --check --test
	tests/run.sh $(BUILD)

bench: quill
	BENCH_ONLY=$(BENCH_ONLY) bench/run.sh

# libFuzzer targets (tests/fuzz/fuzz_NAME.c) built with clang and run for
# FUZZ_SECONDS each, growing the committed corpora that `make test` replays
# (tests/test_tok.c, tests/test_fuzz.c); not part of `make test`.
FUZZ_SECONDS ?= 300
FUZZ_CC ?= clang
CFLAGS_FUZZ := $(filter-out -Werror -Wno-format-truncation,$(BASEFLAGS)) -O1 $(ARCH) \
               -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
LIBOBJ_FUZZ := $(filter-out $(BUILD)/fuzz/stages/main.o,\
                 $(SRC:%.c=$(BUILD)/fuzz/%.o) $(BUILD)/fuzz/gen/migrations.o) $(CMUDICT)

$(BUILD)/fuzz/gen/migrations.o: $(GEN)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CFLAGS_FUZZ) -c -o $@ $<

# The numeric kernels are not what is fuzzed: unoptimised, they build in
# seconds instead of minutes.
$(BUILD)/fuzz/core/matmul.o $(BUILD)/fuzz/core/kernels.o $(BUILD)/fuzz/core/gpt.o: \
    CFLAGS_FUZZ += -O0

$(BUILD)/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CFLAGS_FUZZ) -c -o $@ $<

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIBOBJ_FUZZ)
	$(FUZZ_CC) $(CFLAGS_FUZZ) -fsanitize=fuzzer -o $@ $< $(LIBOBJ_FUZZ) $(LDLIBS)

.SECONDARY: $(LIBOBJ_FUZZ)

fuzz-%: $(BUILD)/fuzz/fuzz_%
	BUILD=$(BUILD) tests/fuzz/run.sh $* $(FUZZ_SECONDS)

# Each object's header dependencies, written by -MMD beside it.
-include $(OBJ:.o=.d) $(OBJ_ASAN:.o=.d) $(TESTS:=.d) $(LIBOBJ_FUZZ:.o=.d) $(wildcard $(BUILD)/fuzz/*.d)

format:
	clang-format -i core/*.[ch] db/*.[ch] stages/*.[ch] tests/*.[ch]

clean:
	rm -rf $(BUILD) quill

# format-check fails (naming each file) when a C file is not as clang-format
# and the checked-in .clang-format would write it (`make format` fixes it).
FORMAT_SRC = $(wildcard core/*.[ch] db/*.[ch] stages/*.[ch] tests/*.[ch])
.PHONY: format-check
format-check:
	@bad=$$(clang-format --dry-run $(FORMAT_SRC) 2>&1 | \
	    sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: warning: code should be clang-formatted.*/\1/p' | sort -u); \
	if [ -n "$$bad" ]; then echo "$$bad" | sed 's/$$/: not formatted (make format)/'; exit 1; fi; \
	echo "format-check: ok"

# check-house fails naming each break of ARCHITECTURE.md's rooms: include
# cycles between modules, core/ reaching db/ or stages/, SQL outside db/, a
# function over 80 lines (unless a kernel says why), a stage file of 400
# lines or more.
.PHONY: check-house
check-house:
	@python3 scripts/check_house.py && echo "check-house: ok"
