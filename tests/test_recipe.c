/*
** Recipe parsing: the example parses into the struct with defaults,
** each kind of mistake gives its message at its position, and stage
** parameter hashes change only with their own stage's parameters.
*/
#include "recipe.h"

#include "err.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static const char *example =
    "name: frankenstein-lipogram\n"
    "seed: 42\n"
    "store: quill.db                  # optional\n"
    "model:\n"
    "  from: models/distilgpt2\n"
    "ingest:\n"
    "  paths: [corpora/frankenstein.txt]\n"
    "  max_chars: 20000\n"
    "  strip_gutenberg: true\n"
    "group:   {block_size: 64, mode: document}\n"
    "train:   {epochs: 1, batch_size: 8, learning_rate: 5.0e-5, save_steps: 100, export: "
    "out/model}\n"
    "generate:\n"
    "  - prompts: [\"Two roads diverged in a yellow\", \"It was a dark and stormy\"]\n"
    "    num_return_sequences: 20\n"
    "    max_new_tokens: 60\n"
    "    temperature: 0.9\n"
    "    top_k: 50\n"
    "    banned_words: [night, day]\n"
    "    forbid_chars: e\n"
    "review:  {min_approvals: 1}\n"
    "publish: {out: out/poems.md, format: md}\n";

static void test_example(void) {
    char err[ERR_LEN] = "";
    rcp_recipe *r;
    CHECKF(rcp_parse(example, strlen(example), "recipes/x.yaml", &r, err) == 0, "%s", err);
    if (!r) return;
    CHECK_STR(r->name, "frankenstein-lipogram");
    CHECK_EQ_INT(r->seed, 42);
    CHECK_STR(r->store, "recipes/quill.db");
    CHECK_STR(r->model.from, "recipes/models/distilgpt2");
    CHECK(!r->model.init.present);
    CHECK_EQ_INT(r->ingest.paths.n, 1);
    CHECK_STR(r->ingest.paths.v[0], "recipes/corpora/frankenstein.txt");
    CHECK_EQ_INT(r->ingest.max_chars, 20000);
    CHECK(r->ingest.strip_gutenberg && !r->ingest.normalize_newlines);
    CHECK_STR(r->ingest.on_invalid_utf8, "reject");
    CHECK(!r->tokenize.present && r->tokenize.model == NULL);
    CHECK_EQ_INT(r->group.block_size, 64);
    CHECK_STR(r->group.mode, "document");
    CHECK_CLOSE(r->train.epochs, 1.0, 0, 0);
    CHECK_CLOSE(r->train.learning_rate, 5e-5, 0, 1e-12);
    CHECK_EQ_INT(r->train.save_steps, 100);
    CHECK_EQ_INT(r->train.logging_steps, 500);
    CHECK_EQ_INT(r->train.max_steps, -1);
    CHECK_EQ_INT(r->train.seed, 42);
    CHECK_CLOSE(r->train.adam_beta2, 0.999, 0, 0);
    CHECK_STR(r->train.lr_scheduler, "linear");
    CHECK_STR(r->train.export, "recipes/out/model");
    CHECK_EQ_INT(r->n_generate, 1);
    rcp_gen *g = &r->generate[0];
    CHECK_EQ_INT(g->prompts.n, 2);
    CHECK_STR(g->prompts.v[1], "It was a dark and stormy");
    CHECK_EQ_INT(g->num_return_sequences, 20);
    CHECK_EQ_INT(g->max_new_tokens, 60);
    CHECK_EQ_INT(g->max_length, 0);
    CHECK_CLOSE(g->temperature, 0.9, 0, 1e-15);
    CHECK_EQ_INT(g->top_k, 50);
    CHECK_CLOSE(g->top_p, 1.0, 0, 0);
    CHECK_EQ_INT(g->banned_words.n, 2);
    CHECK_STR(g->banned_words.v[1], "day");
    CHECK_STR(g->forbid_chars, "e");
    CHECK_STR(g->match, "word");
    CHECK(g->do_sample && !g->ignore_eos && !g->case_sensitive);
    CHECK_EQ_INT(g->seed, 42);
    CHECK_EQ_INT(r->review.min_approvals, 1);
    CHECK_STR(r->publish.out, "recipes/out/poems.md");
    CHECK_STR(r->publish.format, "md");
    for (int i = 0; i < RCP_N_STAGES; i++)
        CHECK(r->enabled[i]);
    /* paths in the parameters are as written, not resolved */
    CHECKF(strstr(r->params_json[RCP_INGEST], "\"corpora/frankenstein.txt\"") != NULL, "%s",
           r->params_json[RCP_INGEST]);
    CHECK_EQ_INT(strlen(r->params_hash[RCP_TRAIN]), 32);
    rcp_free(r);
}

static void test_lists_and_init(void) {
    const char *y = "name: t\n"
                    "model:\n"
                    "  init: {n_layer: 2, n_head: 2, n_embd: 32, n_positions: 64}\n"
                    "generate:\n"
                    "  - prompts: hello\n"
                    "    bad_words_ids: [[1, 2], [3]]\n"
                    "    suppress_tokens: [50256]\n"
                    "    stop_strings: [\"\\n\\n\"]\n"
                    "    max_length: 30\n"
                    "    seed: 7\n"
                    "  - {prompts: [a, b], do_sample: false}\n";
    char err[ERR_LEN] = "";
    rcp_recipe *r;
    CHECKF(rcp_parse(y, strlen(y), "r.yaml", &r, err) == 0, "%s", err);
    if (!r) return;
    CHECK(r->model.init.present && r->model.from == NULL);
    CHECK_EQ_INT(r->model.init.n_embd, 32);
    CHECK_EQ_INT(r->model.init.vocab_size, 50257);
    CHECK_EQ_INT(r->n_generate, 2);
    CHECK_EQ_INT(r->generate[0].prompts.n, 1);
    CHECK_STR(r->generate[0].prompts.v[0], "hello");
    CHECK_EQ_INT(r->generate[0].bad_words_ids.n, 2);
    CHECK_EQ_INT(r->generate[0].bad_words_ids.v[0].n, 2);
    CHECK_EQ_INT(r->generate[0].bad_words_ids.v[0].v[1], 2);
    CHECK_EQ_INT(r->generate[0].bad_words_ids.v[1].v[0], 3);
    CHECK_EQ_INT(r->generate[0].suppress_tokens.v[0], 50256);
    CHECK_STR(r->generate[0].stop_strings.v[0], "\n\n");
    CHECK_EQ_INT(r->generate[0].max_length, 30);
    CHECK_EQ_INT(r->generate[0].max_new_tokens, 0); /* unset: max_length rules */
    CHECK_CLOSE(r->train.dropout, -1, 0, 0);        /* unset: the config's */
    CHECK_EQ_INT(r->generate[0].seed, 7);
    CHECK_EQ_INT(r->generate[1].seed, 42);
    CHECK(!r->generate[1].do_sample);
    CHECK(!r->enabled[RCP_INGEST] && !r->enabled[RCP_TRAIN] && r->enabled[RCP_GENERATE]);
    rcp_free(r);
}

/* A recipe that must fail with exactly this message. */
static void expect_err(const char *yaml, const char *want) {
    char err[ERR_LEN] = "";
    rcp_recipe *r = NULL;
    int rc = rcp_parse(yaml, strlen(yaml), "recipe.yaml", &r, err);
    CHECKF(rc == -1 && r == NULL, "accepted: %s", yaml);
    CHECKF(!strcmp(err, want), "\n    got  %s\n    want %s", err, want);
    rcp_free(r);
}

static void test_errors(void) {
    const char *m = "name: t\nmodel: {from: m}\n";
    char y[1024];
    /* unknown key with a suggestion */
    snprintf(y, sizeof y, "%strain:\n  epochs: 1\n  learnig_rate: 1e-4\n", m);
    expect_err(y, "recipe.yaml:5:3: unknown key 'learnig_rate' in train (did you mean "
                  "'learning_rate'?)");
    snprintf(y, sizeof y, "%sgenrate: []\n", m);
    expect_err(y, "recipe.yaml:3:1: unknown key 'genrate' (did you mean 'generate'?)");
    snprintf(y, sizeof y, "%sreview: {zzzzzzzz: 1}\n", m);
    expect_err(y, "recipe.yaml:3:10: unknown key 'zzzzzzzz' in review (known keys: "
                  "min_approvals)");
    /* wrong types */
    snprintf(y, sizeof y, "%strain: {batch_size: eight}\n", m);
    expect_err(y, "recipe.yaml:3:21: train.batch_size: expected an integer, got 'eight'");
    snprintf(y, sizeof y, "%strain: {batch_size: \"8\"}\n", m);
    expect_err(y, "recipe.yaml:3:21: train.batch_size: expected an integer, got '8'");
    snprintf(y, sizeof y, "%singest: {paths: [a], strip_gutenberg: maybe}\n", m);
    expect_err(y, "recipe.yaml:3:39: ingest.strip_gutenberg: expected true or false, got "
                  "'maybe'");
    snprintf(y, sizeof y, "%sgenerate:\n  - prompts: {a: 1}\n", m);
    expect_err(y, "recipe.yaml:4:14: generate[0].prompts: expected a list, got a mapping");
    snprintf(y, sizeof y, "%sgenerate:\n  - prompts: [a, [b]]\n", m);
    expect_err(y, "recipe.yaml:4:18: generate[0].prompts[1]: expected a string, got a list");
    snprintf(y, sizeof y, "%sgenerate:\n  - {prompts: [a], bad_words_ids: [1, 2]}\n", m);
    expect_err(y, "recipe.yaml:4:36: generate[0].bad_words_ids[0]: expected a list, got a "
                  "scalar");
    snprintf(y, sizeof y, "%sgroup: {mode: documents}\n", m);
    expect_err(y, "recipe.yaml:3:15: group.mode: expected one of document, lines, got "
                  "'documents'");
    snprintf(y, sizeof y, "%strain: 3\n", m);
    expect_err(y, "recipe.yaml:3:8: train: expected a mapping of keys, got a scalar");
    /* ranges */
    snprintf(y, sizeof y, "%sgenerate:\n  - {prompts: [a], temperature: 0}\n", m);
    expect_err(y, "recipe.yaml:4:33: generate[0].temperature: expected a number > 0 and <= "
                  "100, got 0");
    snprintf(y, sizeof y, "%sgenerate:\n  - {prompts: [a], top_p: 1.5}\n", m);
    expect_err(y, "recipe.yaml:4:27: generate[0].top_p: expected a number > 0 and <= 1, got 1.5");
    snprintf(y, sizeof y, "%strain: {batch_size: 0}\n", m);
    expect_err(y, "recipe.yaml:3:21: train.batch_size: expected an integer in 1..1048576, got 0");
    snprintf(y, sizeof y, "%strain: {warmup_steps: -5}\n", m);
    expect_err(y, "recipe.yaml:3:23: train.warmup_steps: expected an integer >= 0, got -5");
    snprintf(y, sizeof y,
             "%sgenerate:\n  - {prompts: [a], min_new_tokens: 30, "
             "max_new_tokens: 10}\n",
             m);
    expect_err(y, "recipe.yaml:4:5: generate[0]: min_new_tokens (30) exceeds max_new_tokens "
                  "(10)");
    expect_err("name: t\nmodel: {init: {n_head: 5}}\n",
               "recipe.yaml:2:15: model.init: n_embd (768) must be a multiple of n_head (5)");
    /* missing required keys */
    expect_err("model: {from: m}\n", "recipe.yaml:1:1: missing required key 'name'");
    expect_err("name: t\n", "recipe.yaml:1:1: missing required key 'model'");
    snprintf(y, sizeof y, "%singest: {max_chars: 5}\n", m);
    expect_err(y, "recipe.yaml:3:9: ingest: missing required key 'paths'");
    snprintf(y, sizeof y, "%sgenerate:\n  - {top_k: 5}\n", m);
    expect_err(y, "recipe.yaml:4:5: generate[0]: give prompts (a list) or prompts_file");
    snprintf(y, sizeof y, "%sgenerate:\n  - {prompts: [a], prompts_file: p.jsonl}\n", m);
    expect_err(y, "recipe.yaml:4:5: generate[0]: give prompts or prompts_file, not both");
    snprintf(y, sizeof y, "%singest: {paths: []}\n", m);
    expect_err(y, "recipe.yaml:3:17: ingest.paths: expected at least 1 item");
    expect_err("name: t\nmodel: {from: m, init: {n_layer: 2}}\n",
               "recipe.yaml:2:8: model: needs exactly one of 'from' (a model directory) or "
               "'init' (a new model's shape)");
    /* duplicates, syntax, documents */
    expect_err("name: t\nname: u\nmodel: {from: m}\n", "recipe.yaml:2:1: name: duplicate key");
    expect_err("name: t\nmodel: {from: m\n",
               "recipe.yaml:3:1: YAML syntax error: did not find expected ',' or '}' while "
               "parsing a flow mapping");
    expect_err("name: [t\n", "recipe.yaml:2:1: YAML syntax error: did not find expected ',' or "
                             "']' while parsing a flow sequence");
    expect_err("", "recipe.yaml:1:1: the recipe is empty");
    expect_err("- a\n", "recipe.yaml:1:1: expected a mapping of keys, got a list");
    expect_err("name: t\nmodel: {from: m}\n---\nname: u\n",
               "recipe.yaml:4:1: a recipe is one YAML document; found another");
}

/* A prompt is stored whole or refused: "abc\0def" used to become "abc". */
static void test_prompt_text(void) {
    const char *m = "name: t\nmodel: {from: m}\n";
    char y[1024];
    snprintf(y, sizeof y, "%sgenerate:\n  - prompts: [ok, \"abc\\0def\"]\n", m);
    expect_err(y, "recipe.yaml:4:19: generate[0].prompts[1]: holds NUL (\\0) at byte 3 (quill "
                  "cannot store it)");
    snprintf(y, sizeof y, "%sgenerate:\n  - prompts: \"x\\0\"\n", m);
    expect_err(y, "recipe.yaml:4:14: generate[0].prompts: holds NUL (\\0) at byte 1 (quill "
                  "cannot store it)");
    snprintf(y, sizeof y, "%sgenerate:\n  - prompts: [\"a \\uFFFD\"]\n", m);
    expect_err(y, "recipe.yaml:4:5: generate[0]: prompts[0] holds U+FFFD, the mark of broken text");
    /* escapes that are text stay whole */
    snprintf(y, sizeof y, "%sgenerate:\n  - prompts: [\"caf\\u00e9 \\t x\"]\n", m);
    char err[ERR_LEN];
    rcp_recipe *r = NULL;
    CHECKF(rcp_parse(y, strlen(y), "recipe.yaml", &r, err) == 0, "%s", err);
    if (r) CHECK_STR(r->generate[0].prompts.v[0], "caf\xC3\xA9 \t x");
    rcp_free(r);
}

/* A stage's hash moves with its own parameters and with the model for the
** stages that use it, and with nothing else. */
/* Every number key of the recipe, with a value no parser may take: not
** finite (YAML's .inf and .nan, strtod's inf, nan and 1e309), too large
** for the integer it fills, or one past its range.  Each is an error at
** the value that names the key. */
static void test_number_ranges(void) {
    static const struct {
        const char *section, *where, *yaml; /* yaml: %s is "KEY: VALUE" */
        const char *keys[17];
    } t[] = {
        {"train",
         "train",
         "name: t\nmodel: {from: m}\ntrain: {%s}\n",
         {"epochs", "max_steps", "batch_size", "gradient_accumulation_steps", "learning_rate",
          "warmup_steps", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon",
          "max_grad_norm", "seed", "dropout", "logging_steps", "save_steps", "save_total_limit"}},
        {"generate",
         "generate[0]",
         "name: t\nmodel: {from: m}\ngenerate:\n  - {prompts: [x], %s}\n",
         {"num_return_sequences", "max_new_tokens", "max_length", "min_new_tokens", "temperature",
          "top_k", "top_p", "min_p", "typical_p", "repetition_penalty", "no_repeat_ngram_size",
          "seed"}},
        {"group",
         "group",
         "name: t\nmodel: {from: m}\ngroup: {%s}\n",
         {"block_size", "eval_fraction"}},
        {"init",
         "model.init",
         "name: t\nmodel: {init: {%s}}\n",
         {"n_layer", "n_head", "n_embd", "n_positions", "vocab_size"}},
        {"ingest",
         "ingest",
         "name: t\nmodel: {from: m}\ningest: {paths: [a], %s}\n",
         {"max_chars"}},
        {"review", "review", "name: t\nmodel: {from: m}\nreview: {%s}\n", {"min_approvals"}},
        {"", "", "name: t\nmodel: {from: m}\n%s\n", {"seed"}},
    };
    static const char *const bad[] = {".inf",
                                      "-.inf",
                                      ".nan",
                                      "inf",
                                      "nan",
                                      "1e309",
                                      "99999999999999999999",
                                      "-99999999999999999999"};
    int n_keys = 0;
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        for (size_t k = 0; k < 17 && t[i].keys[k]; k++, n_keys++) {
            const char *key = t[i].keys[k];
            rcp_range r;
            CHECKF(rcp_key_range(t[i].section, key, &r) == 0, "%s.%s is no number key",
                   t[i].section, key);
            char vals[10][64];
            size_t nv = 0;
            for (; nv < sizeof bad / sizeof *bad; nv++)
                snprintf(vals[nv], sizeof vals[nv], "%s", bad[nv]);
            if (r.max < 1e15) /* one past the top, exactly representable */
                snprintf(vals[nv++], sizeof vals[nv], r.is_int ? "%.0f" : "%.17g",
                         r.is_int ? r.max + 1 : r.max * 1.5 + 1);
            for (size_t v = 0; v < nv; v++) {
                char kv[128], y[512], want[256], err[ERR_LEN] = "";
                snprintf(kv, sizeof kv, "%s: %s", key, vals[v]);
                snprintf(y, sizeof y, t[i].yaml, kv);
                snprintf(want, sizeof want, ": %s%s%s: expected ", t[i].where,
                         *t[i].where ? "." : "", key);
                rcp_recipe *rc = NULL;
                CHECKF(rcp_parse(y, strlen(y), "recipe.yaml", &rc, err) == -1 &&
                           !strncmp(err, "recipe.yaml:", 12) && strstr(err, want),
                       "%s: %s", kv, err);
                rcp_free(rc);
            }
        }
    }
    CHECK_EQ_INT(n_keys, 38);
    /* an int key's whole range fits what it fills (save_total_limit: an int) */
    rcp_range r;
    CHECK(rcp_key_range("train", "save_total_limit", &r) == 0 && r.max <= INT32_MAX);
    CHECK(rcp_key_range("train", "lr_scheduler", &r) == -1); /* not a number */
    CHECK(rcp_key_range("nosuch", "seed", &r) == -1);
}

/* The train section's defaults are Trainer's: the one place quill train
** takes its own from. */
static void test_train_defaults(void) {
    rcp_train t;
    rcp_train_defaults(&t);
    CHECK_CLOSE(t.epochs, 3.0, 0, 0);
    CHECK_EQ_INT(t.logging_steps, 500);
    CHECK_EQ_INT(t.save_steps, 500);
    CHECK_EQ_INT(t.seed, 42);
    CHECK_CLOSE(t.dropout, -1.0, 0, 0);
    CHECK_STR(t.lr_scheduler, "linear");
    rcp_train_free(&t);
}

static void test_hashes(void) {
    const char *base = "name: t\nmodel: {from: m}\ningest: {paths: [a]}\n"
                       "train: {epochs: 1}\ngenerate:\n  - {prompts: [x], top_k: %d}\n";
    char y1[512], y2[512];
    snprintf(y1, sizeof y1, base, 5);
    snprintf(y2, sizeof y2, base, 6);
    char err[ERR_LEN];
    rcp_recipe *a, *b;
    CHECKF(!rcp_parse(y1, strlen(y1), "r.yaml", &a, err), "%s", err);
    CHECKF(!rcp_parse(y2, strlen(y2), "sub/r.yaml", &b, err), "%s", err);
    if (!a || !b) return;
    for (int i = 0; i < RCP_GENERATE; i++)
        CHECK_STR(a->params_hash[i], b->params_hash[i]);
    CHECK(strcmp(a->params_hash[RCP_GENERATE], b->params_hash[RCP_GENERATE]) != 0);
    rcp_free(b);
    /* reordering keys or writing a default explicitly changes nothing */
    const char *y3 = "model: {from: m}\nname: t\ningest: {paths: [a], max_chars: 0}\n"
                     "train: {epochs: 1.0, batch_size: 8}\ngenerate:\n  - {top_k: 5, prompts: "
                     "[x]}\n";
    CHECKF(!rcp_parse(y3, strlen(y3), "r.yaml", &b, err), "%s", err);
    for (int i = 0; i < RCP_N_STAGES; i++)
        CHECK_STR(a->params_hash[i], b->params_hash[i]);
    rcp_free(b);
    /* a different model changes train and generate, not ingest */
    const char *y4 = "model: {from: n}\nname: t\ningest: {paths: [a]}\n"
                     "train: {epochs: 1}\ngenerate:\n  - {top_k: 5, prompts: [x]}\n";
    CHECKF(!rcp_parse(y4, strlen(y4), "r.yaml", &b, err), "%s", err);
    CHECK_STR(a->params_hash[RCP_INGEST], b->params_hash[RCP_INGEST]);
    CHECK(strcmp(a->params_hash[RCP_TRAIN], b->params_hash[RCP_TRAIN]) != 0);
    rcp_free(b);
    rcp_free(a);
}

/* Mangled recipes never crash, and every failure names its position. */
static void test_mangled(void) {
    static const char alphabet[] = ":-[]{}\"'#!&*|>%@`\n \t,?09azé\x01";
    size_t n = strlen(example), bad = 0, failed = 0;
    char *buf = malloc(n + 16);
    uint64_t x = 88172645463325252ull;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, example, n + 1);
        size_t len = n;
        for (int k = 0; k < 1 + iter % 4; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t pos = (size_t)(x >> 8) % len;
            char c = alphabet[(x >> 40) % (sizeof alphabet - 1)];
            if (x & 1)
                buf[pos] = c;
            else
                memmove(buf + pos, buf + pos + 1, len-- - pos);
        }
        char err[ERR_LEN] = "";
        rcp_recipe *r = NULL;
        if (rcp_parse(buf, len, "recipe.yaml", &r, err)) {
            failed++;
            int line, col;
            if (sscanf(err, "recipe.yaml:%d:%d: ", &line, &col) != 2 || line < 1 || col < 1)
                bad++, printf("  no position: %s\n", err);
        }
        rcp_free(r);
    }
    CHECK_EQ_INT(bad, 0);
    CHECKF(failed > 1000 && failed < 3000, "%zu of 3000 failed", failed);
    free(buf);
}

/* Every bundled recipe parses. */
static void test_bundled(void) {
    const char *names[] = {"recipes/quickstart.yaml", "recipes/distilgpt2-frankenstein.yaml",
                           "recipes/lipogram.yaml", "recipes/quickstart-distilgpt2.yaml"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char err[ERR_LEN] = "";
        rcp_recipe *r;
        CHECKF(rcp_load(names[i], &r, err) == 0, "%s", err);
        if (r) CHECK(r->enabled[RCP_GENERATE]);
        rcp_free(r);
    }
    rcp_recipe *r;
    char err[ERR_LEN];
    if (rcp_load("recipes/quickstart.yaml", &r, err)) return;
    CHECK_STR(r->ingest.paths.v[0], "recipes/corpora/frankenstein.txt");
    CHECK_STR(r->publish.format, "md");
    CHECK(r->model.init.present && r->enabled[RCP_TRAIN]);
    rcp_free(r);
}

static void test_load(void) {
    char err[ERR_LEN] = "";
    rcp_recipe *r;
    CHECK(rcp_load("tests/fixtures/no-such.yaml", &r, err) == -1);
    CHECKF(strstr(err, "no-such.yaml: No such file") != NULL, "%s", err);
    CHECK_EQ_INT(rcp_edit_distance("kitten", "sitting"), 3);
    CHECK_EQ_INT(rcp_edit_distance("", "abc"), 3);
}

/* Parse text; the seconds it took.  err gets the error (or ""). */
static double timed_parse(const char *text, char *err) {
    struct timespec a, b;
    rcp_recipe *r = NULL;
    *err = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (rcp_parse(text, strlen(text), "recipe.yaml", &r, err) == 0) rcp_free(r);
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
}

/* 100k levels of nesting (flow lists, flow mappings, block lists) fail
** fast with the position of the first level too deep (they took 24 s);
** 64 levels are still parsed (and refused by the schema). */
static void test_deep_nesting(void) {
    enum { LEVELS = 100000 };
    char *y = malloc(5 * LEVELS + 64), err[ERR_LEN];
    char *p = y + sprintf(y, "name: t\nseed: ");
    for (int i = 0; i < LEVELS; i++)
        *p++ = '[';
    for (int i = 0; i < LEVELS; i++)
        *p++ = ']';
    strcpy(p, "\n");
    double t = timed_parse(y, err);
    CHECKF(t < 2.0, "%.1f s", t);
    CHECK_STR(err, "recipe.yaml:2:70: nesting deeper than 64");
    p = y + sprintf(y, "name: t\nseed: ");
    for (int i = 0; i < LEVELS; i++)
        p += sprintf(p, "{a: ");
    for (int i = 0; i < LEVELS; i++)
        *p++ = '}';
    strcpy(p, "\n");
    t = timed_parse(y, err);
    CHECKF(t < 2.0, "%.1f s", t);
    CHECK_STR(err, "recipe.yaml:2:259: nesting deeper than 64");
    p = y;
    for (int i = 0; i < LEVELS; i++)
        p += sprintf(p, "- ");
    strcpy(p, "x\n");
    t = timed_parse(y, err);
    CHECKF(t < 2.0, "%.1f s", t);
    CHECK_STR(err, "recipe.yaml:1:129: nesting deeper than 64");
    p = y + sprintf(y, "name: t\nseed: ");
    for (int i = 0; i < 63; i++)
        *p++ = '[';
    for (int i = 0; i < 63; i++)
        *p++ = ']';
    strcpy(p, "\n");
    timed_parse(y, err);
    CHECK_STR(err, "recipe.yaml:2:7: seed: expected an integer, got a list");
    free(y);
}

int main(void) {
    RUN(test_example);
    RUN(test_lists_and_init);
    RUN(test_errors);
    RUN(test_prompt_text);
    RUN(test_hashes);
    RUN(test_number_ranges);
    RUN(test_train_defaults);
    RUN(test_mangled);
    RUN(test_bundled);
    RUN(test_load);
    RUN(test_deep_nesting);
    return TEST_SUMMARY();
}
