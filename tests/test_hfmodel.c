/*
** safetensors and Hugging Face GPT-2 directories: half-precision loading
** against fixtures made by tests/reference/make_safetensors.py (torch's own
** conversions), F32 and BF16 round trips, GPT-2 initialisation, and one test
** per kind of bad checkpoint (each must fail with a message naming the
** problem, never crash; ASan checks no read goes out of bounds).
*/
#include "err.h"
#include "hfmodel.h"
#include "safetensors.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[256];
static uint64_t rng_state_;

/* A tiny deterministic generator for the fuzz test. */
static uint64_t next(void) {
    rng_state_ ^= rng_state_ << 13;
    rng_state_ ^= rng_state_ >> 7;
    rng_state_ ^= rng_state_ << 17;
    return rng_state_;
}

static void tiny(gpt_config *c) {
    gpt_config_default(c);
    c->n_layer = 1;
    c->n_head = 2;
    c->n_embd = 4;
    c->n_positions = 3;
    c->vocab_size = 5;
}

/* A scratch directory tmp/NAME, emptied. */
static const char *scratch(const char *name) {
    static char dir[400];
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    mkdir(dir, 0777);
    const char *files[] = {"config.json", "model.safetensors", "pytorch_model.bin"};
    char p[500];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    return dir;
}

static void put_file(const char *dir, const char *name, const void *data, size_t n) {
    char p[500];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *fp = fopen(p, "wb");
    fwrite(data, 1, n, fp);
    fclose(fp);
}

/* A tiny model dir with a valid config and a safetensors file made of a raw
** header and data_n zero bytes of data. */
static const char *raw_dir(const char *name, const char *header, size_t data_n) {
    const char *dir = scratch(name);
    gpt_config c;
    tiny(&c);
    char *cfg = hf_config_json(&c, "float32");
    put_file(dir, "config.json", cfg, strlen(cfg));
    free(cfg);
    size_t hl = strlen(header);
    uint64_t h64 = hl;
    unsigned char *buf = calloc(8 + hl + data_n, 1);
    memcpy(buf, &h64, 8);
    memcpy(buf + 8, header, hl);
    put_file(dir, "model.safetensors", buf, 8 + hl + data_n);
    free(buf);
    return dir;
}

/* Load dir and check it fails with a message containing want. */
static void expect_load_error(const char *dir, const char *want) {
    gpt_config c;
    float *p = NULL;
    size_t n;
    char err[ERR_LEN] = "";
    CHECKF(hf_load(dir, &c, &p, &n, err) == -1, "%s loaded", dir);
    CHECKF(strstr(err, want) != NULL, "error \"%s\" lacks \"%s\"", err, want);
    CHECK(p == NULL);
}

static void check_fixture(const char *dir) {
    gpt_config c;
    float *p;
    size_t n;
    char err[ERR_LEN], path[300];
    CHECKF(hf_load(dir, &c, &p, &n, err) == 0, "%s", err);
    CHECK_EQ_INT(c.n_layer, 2);
    CHECK_EQ_INT(c.n_embd, 6);
    CHECK_EQ_INT(c.vocab_size, 11);
    snprintf(path, sizeof path, "%s/expected.f32", dir);
    FILE *fp = fopen(path, "rb");
    CHECK(fp != NULL);
    float *want = malloc(n * sizeof *want);
    CHECK_EQ_INT(fread(want, sizeof *want, n, fp), n);
    CHECK(fgetc(fp) == EOF);
    fclose(fp);
    /* torch's conversion is exact, so ours must match bit for bit. */
    CHECK(memcmp(p, want, n * sizeof *p) == 0);
    CHECK(p[0] > 0 && p[0] < 1e-7f); /* f16 subnormal / bf16 tiny survived */
    free(want);
    free(p);
}

static void test_f16_fixture(void) {
    check_fixture("tests/fixtures/hf_f16"); /* no prefix, lm_head, mask buffers */
}

static void test_bf16_fixture(void) {
    check_fixture("tests/fixtures/hf_bf16"); /* "transformer." prefix */
}

static void test_half_conversions(void) {
    CHECK(st_f16_to_f32(0x3c00) == 1.0f);
    CHECK(st_f16_to_f32(0xc000) == -2.0f);
    CHECK(st_f16_to_f32(0x0001) == ldexpf(1, -24));
    CHECK(st_f16_to_f32(0x03ff) == ldexpf(1023, -24));
    CHECK(st_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(isinf(st_f16_to_f32(0xfc00)) && st_f16_to_f32(0xfc00) < 0);
    CHECK(isnan(st_f16_to_f32(0x7e00)));
    CHECK(st_bf16_to_f32(0x3f80) == 1.0f);
    /* round to nearest, ties to even */
    CHECK_EQ_INT(st_f32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ_INT(st_f32_to_bf16(1.00390625f), 0x3f80); /* tie, even stays */
    CHECK_EQ_INT(st_f32_to_bf16(1.01171875f), 0x3f82); /* tie, odd rounds up */
    uint32_t above_tie = 0x3f808001;
    float f;
    memcpy(&f, &above_tie, 4);
    CHECK_EQ_INT(st_f32_to_bf16(f), 0x3f81);
    CHECK(isnan(st_bf16_to_f32(st_f32_to_bf16(NAN))));
}

static void test_round_trip_f32(void) {
    gpt_config c, back;
    tiny(&c);
    c.n_layer = 2;
    c.layer_norm_epsilon = 1e-6f;
    c.attn_pdrop = 0.0f;
    float *p, *q;
    size_t n;
    char err[ERR_LEN];
    CHECK(hf_init_params(&c, 7, &p) == 0);
    const char *dir = scratch("rt32");
    CHECKF(hf_save(dir, &c, p, 0, NULL, err) == 0, "%s", err);
    CHECKF(hf_load(dir, &back, &q, &n, err) == 0, "%s", err);
    CHECK(memcmp(&c, &back, sizeof c) == 0);
    CHECK(memcmp(p, q, n * sizeof *p) == 0);
    /* Names carry "transformer." and lm_head.weight is not stored. */
    char path[500];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st_file *f;
    CHECK(st_open(path, &f, err) == 0);
    CHECK(st_find(f, "transformer.wte.weight") != NULL);
    CHECK(st_find(f, "lm_head.weight") == NULL);
    CHECK_EQ_INT(st_count(f), gpt_layout_count(&c));
    CHECK_STR(st_metadata(f, "format"), "pt");
    CHECK_STR(st_at(f, 0)->dtype_name, "F32");
    st_close(f);
    const char *files[] = {"vocab.json", "merges.txt", "tokenizer_config.json",
                           "special_tokens_map.json", "generation_config.json"};
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        CHECKF(access(path, R_OK) == 0, "%s", path);
    }
    free(p);
    free(q);
}

static void test_round_trip_bf16(void) {
    gpt_config c, back;
    tiny(&c);
    float *p, *q;
    size_t n;
    char err[ERR_LEN];
    CHECK(hf_init_params(&c, 8, &p) == 0);
    const char *dir = scratch("rt16");
    CHECKF(hf_save(dir, &c, p, 1, NULL, err) == 0, "%s", err);
    CHECKF(hf_load(dir, &back, &q, &n, err) == 0, "%s", err);
    int same = 1, changed = 0;
    for (size_t i = 0; i < n; i++) {
        same &= q[i] == st_bf16_to_f32(st_f32_to_bf16(p[i]));
        changed |= q[i] != p[i];
    }
    CHECK(same);
    CHECK(changed);
    free(p);
    free(q);
}

static void test_init(void) {
    gpt_config c;
    tiny(&c);
    c.n_layer = 8;
    c.n_embd = 64;
    c.vocab_size = 500;
    float *p, *q;
    CHECK(hf_init_params(&c, 42, &p) == 0);
    CHECK(hf_init_params(&c, 42, &q) == 0);
    int n_t = gpt_layout_count(&c);
    gpt_tensor *g = malloc(n_t * sizeof *g);
    size_t n = gpt_layout(&c, g);
    CHECK(memcmp(p, q, n * sizeof *p) == 0);
    free(q);
    CHECK(hf_init_params(&c, 43, &q) == 0);
    CHECK(memcmp(p, q, n * sizeof *p) != 0);
    free(q);
    for (int k = 0; k < n_t; k++) {
        const float *x = p + g[k].offset;
        double s = 0, s2 = 0;
        for (size_t i = 0; i < g[k].numel; i++)
            s += x[i], s2 += (double)x[i] * x[i];
        double mean = s / g[k].numel, sd = sqrt(s2 / g[k].numel - mean * mean);
        if (strstr(g[k].name, "bias")) {
            CHECKF(s2 == 0, "%s not zero", g[k].name);
        } else if (strstr(g[k].name, "ln_")) {
            CHECKF(mean == 1 && sd == 0, "%s not ones", g[k].name);
        } else {
            double want = strstr(g[k].name, "c_proj.weight") ? 0.02 / 4 : 0.02; /* sqrt(16) */
            CHECKF(fabs(sd - want) < 0.1 * want, "%s sd %g want %g", g[k].name, sd, want);
            CHECKF(fabs(mean) < 0.1 * want, "%s mean %g", g[k].name, mean);
        }
    }
    free(g);
    free(p);
    c.n_embd = 63; /* not a multiple of n_head */
    CHECK(hf_init_params(&c, 1, &p) == -1);
}

/* A tiny model's entries for st_write, with the layout's names. */
static int tiny_entries(gpt_config *c, st_entry *e, gpt_tensor *g, float **p) {
    tiny(c);
    hf_init_params(c, 3, p);
    int n_t = gpt_layout_count(c);
    gpt_layout(c, g);
    for (int k = 0; k < n_t; k++)
        e[k] = (st_entry){g[k].name, g[k].ndim, {g[k].shape[0], g[k].shape[1]}, *p + g[k].offset};
    return n_t;
}

static void write_entries(const char *dir, st_entry *e, int n) {
    char path[500], err[ERR_LEN];
    gpt_config c;
    tiny(&c);
    char *cfg = hf_config_json(&c, "float32");
    put_file(dir, "config.json", cfg, strlen(cfg));
    free(cfg);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECKF(st_write(path, e, n, 0, err) == 0, "%s", err);
}

/* The n tensors e plus one more fail to load with want. */
static void extra_tensor(const char *name, const st_entry *e, int n, st_entry extra,
                         const char *want) {
    st_entry bad[40];
    memcpy(bad, e, n * sizeof *e);
    bad[n] = extra;
    const char *dir = scratch(name);
    write_entries(dir, bad, n + 1);
    expect_load_error(dir, want);
}

static void test_bad_tensors(void) {
    gpt_config c;
    st_entry e[40];
    gpt_tensor g[40];
    float *p;
    int n = tiny_entries(&c, e, g, &p);
    /* missing tensor */
    const char *dir = scratch("missing");
    write_entries(dir, e, n - 1);
    expect_load_error(dir, "missing tensor 'ln_f.bias'");
    /* wrong shape */
    dir = scratch("shape");
    st_entry bad[40];
    memcpy(bad, e, sizeof bad);
    bad[0].shape[0] = 4, bad[0].shape[1] = 5;
    write_entries(dir, bad, n);
    expect_load_error(dir, "tensor 'wte.weight' has shape [4, 5], the config needs [5, 4]");
    /* one tensor more than the layout */
    extra_tensor("extra", e, n, (st_entry){"score.weight", 1, {2, 1}, p},
                 "unexpected tensor 'score.weight'");
    extra_tensor("untied", e, n, (st_entry){"lm_head.weight", 2, {5, 4}, p + 1},
                 "lm_head.weight differs from wte.weight");
    extra_tensor("twice", e, n, (st_entry){"transformer.wpe.weight", 2, {3, 4}, p},
                 "appears twice");
    /* truncated file */
    dir = scratch("trunc");
    write_entries(dir, e, n);
    char path[500];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    struct stat sb;
    stat(path, &sb);
    CHECK(truncate(path, sb.st_size - 10) == 0);
    expect_load_error(dir, "past the end of the data");
    CHECK(truncate(path, 5) == 0);
    expect_load_error(dir, "too short");
    free(p);
}

static void test_bad_headers(void) {
    expect_load_error(raw_dir("hlen", "{}", 0), "");
    /* header length larger than the file */
    const char *dir = scratch("hugelen");
    gpt_config c;
    tiny(&c);
    char *cfg = hf_config_json(&c, "float32");
    put_file(dir, "config.json", cfg, strlen(cfg));
    free(cfg);
    unsigned char buf[16] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, '{', '}'};
    put_file(dir, "model.safetensors", buf, sizeof buf);
    expect_load_error(dir, "exceeds the file size");
    expect_load_error(raw_dir("json", "{\"a\": [", 0), "not valid JSON");
    expect_load_error(raw_dir("notobj", "[1, 2]   ", 0), "does not start with '{'");
    expect_load_error(raw_dir("dtype",
                              "{\"wte.weight\":{\"dtype\":\"Q4\",\"shape\":[5,4],"
                              "\"data_offsets\":[0,20]}}",
                              20),
                      "tensor 'wte.weight': unknown dtype 'Q4'");
    expect_load_error(raw_dir("i64",
                              "{\"wte.weight\":{\"dtype\":\"I64\",\"shape\":[5,4],"
                              "\"data_offsets\":[0,160]}}",
                              160),
                      "tensor 'wte.weight' has dtype I64; only F32, F16 and BF16");
    expect_load_error(raw_dir("size",
                              "{\"wte.weight\":{\"dtype\":\"F32\",\"shape\":[5,4],"
                              "\"data_offsets\":[0,40]}}",
                              40),
                      "40 bytes at data_offsets but shape and dtype F32 need 80");
    expect_load_error(raw_dir("overlap",
                              "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                              "\"data_offsets\":[0,8]},"
                              "\"b\":{\"dtype\":\"F32\",\"shape\":[2],"
                              "\"data_offsets\":[4,12]}}",
                              12),
                      "overlaps");
    expect_load_error(raw_dir("gap",
                              "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
                              "\"data_offsets\":[4,8]}}",
                              8),
                      "the previous tensor ends at 0");
    expect_load_error(raw_dir("tail",
                              "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
                              "\"data_offsets\":[0,4]}}",
                              8),
                      "4 bytes of data after the last tensor");
    expect_load_error(raw_dir("beyond",
                              "{\"a\":{\"dtype\":\"F32\",\"shape\":[1000000],"
                              "\"data_offsets\":[0,4000000]}}",
                              8),
                      "past the end of the data");
    expect_load_error(raw_dir("negshape",
                              "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],"
                              "\"data_offsets\":[0,4]}}",
                              4),
                      "shape[0] is not a size");
    expect_load_error(raw_dir("overflow",
                              "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,"
                              "4294967296],\"data_offsets\":[0,4]}}",
                              4),
                      "shape overflows");
    expect_load_error(raw_dir("meta", "{\"__metadata__\":{\"format\":1}}", 0),
                      "__metadata__ 'format' is not a string");
    expect_load_error(raw_dir("dup",
                              "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
                              "\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\","
                              "\"shape\":[1],\"data_offsets\":[0,4]}}",
                              4),
                      "duplicate");
}

static void test_bad_dirs(void) {
    const char *dir = scratch("pt");
    put_file(dir, "config.json", "{\"n_layer\":1}", 13);
    expect_load_error(dir, "n_head");
    gpt_config c;
    tiny(&c);
    char *cfg = hf_config_json(&c, "float32");
    put_file(dir, "config.json", cfg, strlen(cfg));
    free(cfg);
    put_file(dir, "pytorch_model.bin", "PK", 2);
    expect_load_error(dir, "only pytorch_model.bin");
    expect_load_error(dir, "safe_serialization=True");
    expect_load_error(scratch("empty"), "no config.json");
    const char *json_cases[][2] = {
        {"{\"n_layer\":1,\"n_head\":2,\"n_embd\":\"4\",\"n_positions\":3,\"vocab_size\":5}",
         "\"n_embd\" must be an integer"},
        {"{\"n_layer\":1,\"n_head\":2,\"n_embd\":4,\"n_ctx\":3,\"vocab_size\":5,"
         "\"layer_norm_epsilon\":\"x\"}",
         "\"layer_norm_epsilon\" must be a number"},
        {"{\"model_type\":\"llama\",\"n_layer\":1}", "model_type llama is not gpt2"},
        {"{\"n_layer\":1,\"n_head\":3,\"n_embd\":4,\"n_positions\":3,\"vocab_size\":5}",
         "multiple of n_head"},
        {"{\"n_layer\":1,\"n_head\":2,\"n_embd\":4,\"vocab_size\":5}", "missing \"n_ctx\""},
        {"{\"n_layer\":1,\"n_head\":2,\"n_embd\":4,\"n_positions\":3,\"vocab_size\":5,"
         "\"activation_function\":\"relu\"}",
         "'relu' is not supported"},
        {"{\"n_layer\":1,\"n_head\":2,\"n_embd\":4,\"n_positions\":3,\"vocab_size\":5,"
         "\"n_inner\":7}",
         "n_inner"},
        {"[1]", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof json_cases / sizeof *json_cases; i++) {
        char err[ERR_LEN] = "";
        gpt_config got;
        CHECKF(hf_config_parse(json_cases[i][0], strlen(json_cases[i][0]), "config.json", &got,
                               err) == -1,
               "case %zu parsed", i);
        CHECKF(strstr(err, json_cases[i][1]) != NULL, "\"%s\" lacks \"%s\"", err, json_cases[i][1]);
    }
    /* unknown keys ignored, n_ctx accepted for n_positions */
    const char *ok = "{\"n_layer\":1,\"n_head\":2,\"n_embd\":4,\"n_ctx\":3,\"vocab_size\":5,"
                     "\"whatever\":[1],\"layer_norm_epsilon\":1e-05}";
    char err[ERR_LEN];
    gpt_config got;
    CHECKF(hf_config_parse(ok, strlen(ok), "config.json", &got, err) == 0, "%s", err);
    CHECK_EQ_INT(got.n_positions, 3);
    CHECK(got.layer_norm_epsilon == 1e-5f);
}

/* Random corruptions of a valid file (header bytes, the length prefix,
** truncations) must load or fail cleanly; ASan catches any stray read. */
static void test_fuzz(void) {
    gpt_config c;
    st_entry e[40];
    gpt_tensor g[40];
    float *p;
    int n = tiny_entries(&c, e, g, &p);
    const char *dir = scratch("fuzz");
    write_entries(dir, e, n);
    free(p);
    char path[500];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *fp = fopen(path, "rb");
    unsigned char good[65536];
    size_t len = fread(good, 1, sizeof good, fp);
    fclose(fp);
    uint64_t hlen;
    memcpy(&hlen, good, 8);
    rng_state_ = 12345;
    int loaded = 0, failed = 0;
    for (int it = 0; it < 400; it++) {
        unsigned char buf[65536];
        memcpy(buf, good, len);
        size_t n_out = len;
        int kind = it % 4;
        if (kind == 0) { /* flip a header byte to a JSON-ish character */
            static const char junk[] = "{}[]\",:0123456789-e. \\xZ";
            buf[8 + next() % hlen] = (unsigned char)junk[next() % (sizeof junk - 1)];
        } else if (kind == 1) { /* a random byte anywhere in the header */
            buf[next() % (8 + hlen)] = (unsigned char)next();
        } else if (kind == 2) { /* truncate */
            n_out = next() % len;
        } else { /* a digit of some number in the header changed */
            size_t at = 8 + next() % hlen;
            while (at < 8 + hlen && (buf[at] < '0' || buf[at] > '9'))
                at++;
            if (at < 8 + hlen) buf[at] = (unsigned char)('0' + next() % 10);
        }
        put_file(dir, "model.safetensors", buf, n_out);
        gpt_config got;
        float *q = NULL;
        size_t nq;
        char err[ERR_LEN] = "";
        if (hf_load(dir, &got, &q, &nq, err) == 0) {
            loaded++;
            free(q);
        } else {
            failed++;
            CHECKF(err[0] != 0, "iteration %d failed without a message", it);
        }
    }
    printf("  fuzz: %d loaded, %d rejected\n", loaded, failed);
    CHECK(failed > 300);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/quill-test-hf-%d", (int)getpid());
    mkdir(tmp, 0777);
    RUN(test_half_conversions);
    RUN(test_f16_fixture);
    RUN(test_bf16_fixture);
    RUN(test_round_trip_f32);
    RUN(test_round_trip_bf16);
    RUN(test_init);
    RUN(test_bad_tensors);
    RUN(test_bad_headers);
    RUN(test_bad_dirs);
    RUN(test_fuzz);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd)) printf("could not remove %s\n", tmp);
    return TEST_SUMMARY();
}
