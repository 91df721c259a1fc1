/*
** Hugging Face GPT-2 directories (see hfmodel.h).
*/
#include "hfmodel.h"

#include "err.h"
#include "fsutil.h"
#include "mem.h"
#include "rng.h"
#include "safetensors.h"
#include "text.h"
#include "tok.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The transformers version quill's directories claim to be written by. */
#define HF_TRANSFORMERS_VERSION "4.46.3"

/* Read integer key of the JSON object root into *out (left alone when
** absent and not required).  Fails, with err naming what and key, when
** missing but required or not an int. */
static int get_int(json_t *root, const char *key, int *out, int required, const char *what,
                   char *err) {
    json_t *v = json_object_get(root, key);
    if (!v || (json_is_null(v) && !required)) {
        if (required) return err_set(err, "%s: missing \"%s\"", what, key);
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < INT_MIN || json_integer_value(v) > INT_MAX)
        return err_set(err, "%s: \"%s\" must be an integer", what, key);
    *out = (int)json_integer_value(v);
    return 0;
}

/* Read number key of root into *out (left alone when absent); fails, with
** err naming what and key, when not a number. */
static int get_float(json_t *root, const char *key, float *out, const char *what, char *err) {
    json_t *v = json_object_get(root, key);
    if (!v) return 0;
    if (!json_is_number(v)) return err_set(err, "%s: \"%s\" must be a number", what, key);
    *out = (float)json_number_value(v);
    return 0;
}

int hf_config_parse(const char *text, size_t n, const char *what, gpt_config *cfg, char *err) {
    json_error_t je;
    json_t *root = json_loadb(text, n, 0, &je);
    if (!root) return err_set(err, "%s: not valid JSON: %s (line %d)", what, je.text, je.line);
    int rc = -1;
    gpt_config c;
    gpt_config_default(&c);
    if (!json_is_object(root)) {
        err_set(err, "%s: not a JSON object", what);
        goto out;
    }
    json_t *mt = json_object_get(root, "model_type");
    if (mt && (!json_is_string(mt) || strcmp(json_string_value(mt), "gpt2"))) {
        err_set(err, "%s: model_type %s is not gpt2", what,
                json_is_string(mt) ? json_string_value(mt) : "(not a string)");
        goto out;
    }
    c.n_positions = 0;
    if (get_int(root, "n_layer", &c.n_layer, 1, what, err) ||
        get_int(root, "n_head", &c.n_head, 1, what, err) ||
        get_int(root, "n_embd", &c.n_embd, 1, what, err) ||
        get_int(root, "vocab_size", &c.vocab_size, 1, what, err) ||
        get_int(root, "n_positions", &c.n_positions, 0, what, err) ||
        (!c.n_positions && get_int(root, "n_ctx", &c.n_positions, 1, what, err)) ||
        get_int(root, "bos_token_id", &c.bos_token_id, 0, what, err) ||
        get_int(root, "eos_token_id", &c.eos_token_id, 0, what, err) ||
        get_float(root, "layer_norm_epsilon", &c.layer_norm_epsilon, what, err) ||
        get_float(root, "embd_pdrop", &c.embd_pdrop, what, err) ||
        get_float(root, "attn_pdrop", &c.attn_pdrop, what, err) ||
        get_float(root, "resid_pdrop", &c.resid_pdrop, what, err))
        goto out;
    json_t *act = json_object_get(root, "activation_function");
    if (act) {
        if (!json_is_string(act) ||
            strlen(json_string_value(act)) >= sizeof c.activation_function) {
            err_set(err, "%s: \"activation_function\" must be a short string", what);
            goto out;
        }
        strcpy(c.activation_function, json_string_value(act));
    }
    json_t *inner = json_object_get(root, "n_inner");
    if (inner && !json_is_null(inner) &&
        (!json_is_integer(inner) || json_integer_value(inner) != 4 * (json_int_t)c.n_embd)) {
        err_set(err, "%s: n_inner other than 4*n_embd is not supported", what);
        goto out;
    }
    if (gpt_config_check(&c, err)) {
        err_prefix(err, "%s", what);
        goto out;
    }
    *cfg = c;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* The shortest decimal that reads back as f, as JSON (always with a '.' or
** an exponent so it reads back as a real). */
static void fmt_float(char *buf, size_t n, float f) {
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, n, "%.*g", p, f);
        if (strtof(buf, NULL) == f) break;
    }
    if (!strpbrk(buf, ".e")) strncat(buf, ".0", n - strlen(buf) - 1);
}

char *hf_config_json(const gpt_config *cfg, const char *torch_dtype) {
    char eps[32], pe[32], pa[32], pr[32], *out;
    fmt_float(eps, sizeof eps, cfg->layer_norm_epsilon);
    fmt_float(pe, sizeof pe, cfg->embd_pdrop);
    fmt_float(pa, sizeof pa, cfg->attn_pdrop);
    fmt_float(pr, sizeof pr, cfg->resid_pdrop);
    /* Keys sorted as PretrainedConfig.to_json_string(sort_keys=True). */
    if (asprintf(&out,
                 "{\n"
                 "  \"activation_function\": \"%s\",\n"
                 "  \"architectures\": [\n    \"GPT2LMHeadModel\"\n  ],\n"
                 "  \"attn_pdrop\": %s,\n"
                 "  \"bos_token_id\": %d,\n"
                 "  \"embd_pdrop\": %s,\n"
                 "  \"eos_token_id\": %d,\n"
                 "  \"initializer_range\": 0.02,\n"
                 "  \"layer_norm_epsilon\": %s,\n"
                 "  \"model_type\": \"gpt2\",\n"
                 "  \"n_ctx\": %d,\n"
                 "  \"n_embd\": %d,\n"
                 "  \"n_head\": %d,\n"
                 "  \"n_inner\": null,\n"
                 "  \"n_layer\": %d,\n"
                 "  \"n_positions\": %d,\n"
                 "  \"reorder_and_upcast_attn\": false,\n"
                 "  \"resid_pdrop\": %s,\n"
                 "  \"scale_attn_by_inverse_layer_idx\": false,\n"
                 "  \"scale_attn_weights\": true,\n"
                 "  \"summary_activation\": null,\n"
                 "  \"summary_first_dropout\": 0.1,\n"
                 "  \"summary_proj_to_labels\": true,\n"
                 "  \"summary_type\": \"cls_index\",\n"
                 "  \"summary_use_proj\": true,\n"
                 "  \"task_specific_params\": {\n"
                 "    \"text-generation\": {\n"
                 "      \"do_sample\": true,\n"
                 "      \"max_length\": 50\n"
                 "    }\n"
                 "  },\n"
                 "  \"torch_dtype\": \"%s\",\n"
                 "  \"transformers_version\": \"" HF_TRANSFORMERS_VERSION "\",\n"
                 "  \"use_cache\": true,\n"
                 "  \"vocab_size\": %d\n"
                 "}\n",
                 cfg->activation_function, pa, cfg->bos_token_id, pe, cfg->eos_token_id, eps,
                 cfg->n_positions, cfg->n_embd, cfg->n_head, cfg->n_layer, cfg->n_positions, pr,
                 torch_dtype, cfg->vocab_size) < 0)
        return NULL;
    return out;
}

/* Read a whole small file into a malloc'd NUL-terminated buffer. */
static int slurp(const char *path, char **out, size_t *n, char *err) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return err_set(err, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0, got;
    char *buf = malloc(cap + 1), *nb;
    while (buf && (got = fread(buf + len, 1, cap - len, fp)) > 0) {
        len += got;
        if (len < cap) continue;
        if (!(nb = realloc(buf, (cap *= 2) + 1))) free(buf);
        buf = nb;
    }
    int bad = !buf || ferror(fp);
    fclose(fp);
    if (bad) {
        free(buf);
        return err_set(err, "%s: %s", path, buf ? "read error" : "out of memory");
    }
    buf[len] = 0;
    *out = buf;
    *n = len;
    return 0;
}

/* 1 when path exists (any kind of file). */
static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* A mask buffer some GPT-2 checkpoints carry; not a parameter. */
static int is_mask_buffer(const char *name) {
    return txt_ends_with(name, ".attn.bias") || txt_ends_with(name, ".attn.masked_bias");
}

/* Check a tensor's shape against the layout entry. */
static int check_shape(const char *file, const st_tensor *t, const gpt_tensor *g, char *err) {
    int ok = t->ndim == g->ndim && t->shape[0] == g->shape[0] &&
             (g->ndim == 1 || t->shape[1] == g->shape[1]);
    if (ok) return 0;
    char got[128] = "", want[64];
    for (int d = 0; d < t->ndim; d++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "",
                 (long long)t->shape[d]);
    if (g->ndim == 1)
        snprintf(want, sizeof want, "%d", g->shape[0]);
    else
        snprintf(want, sizeof want, "%d, %d", g->shape[0], g->shape[1]);
    return err_set(err, "%s: tensor '%s' has shape [%s], the config needs [%s]", file, t->name, got,
                   want);
}

/* Copy the tensors of f into params (layout g, n_t tensors).  With params
** NULL only check that every tensor is there once with its layout shape. */
static int load_tensors(const st_file *f, const char *file, const gpt_tensor *g, int n_t,
                        float *params, char *err) {
    char *seen = calloc(n_t, 1);
    const st_tensor *lm_head = NULL;
    int rc = -1;
    for (int i = 0; i < st_count(f); i++) {
        const st_tensor *t = st_at(f, i);
        const char *name = t->name;
        if (!strncmp(name, "transformer.", 12)) name += 12;
        if (is_mask_buffer(name)) continue;
        if (!strcmp(name, "lm_head.weight")) {
            lm_head = t;
            continue;
        }
        int k = gpt_layout_find(g, n_t, name);
        if (k < 0) {
            err_set(err, "%s: unexpected tensor '%s' (not part of GPT2LMHeadModel)", file, t->name);
            goto out;
        }
        if (seen[k]) {
            err_set(err, "%s: tensor '%s' appears twice (with and without \"transformer.\")", file,
                    g[k].name);
            goto out;
        }
        seen[k] = 1;
        if (check_shape(file, t, &g[k], err)) goto out;
        /* without params only an unsupported dtype is reported (out unused) */
        if ((params || t->dtype == ST_OTHER) &&
            st_read_f32(f, t, params ? params + g[k].offset : NULL, g[k].numel, err))
            goto out;
    }
    for (int k = 0; k < n_t; k++)
        if (!seen[k]) {
            err_set(err, "%s: missing tensor '%s' (or 'transformer.%s')", file, g[k].name,
                    g[k].name);
            goto out;
        }
    if (lm_head && !params) {
        if (check_shape(file, lm_head, &g[0], err)) goto out;
    } else if (lm_head) { /* tied: must equal wte exactly */
        if (check_shape(file, lm_head, &g[0], err)) goto out;
        float *tmp = malloc(g[0].numel * sizeof *tmp);
        int bad = st_read_f32(f, lm_head, tmp, g[0].numel, err);
        if (!bad && memcmp(tmp, params + g[0].offset, g[0].numel * sizeof *tmp))
            bad = err_set(err,
                          "%s: lm_head.weight differs from wte.weight; quill's GPT-2 ties "
                          "them (untied output embeddings are not supported)",
                          file);
        free(tmp);
        if (bad) goto out;
    }
    rc = 0;
out:
    free(seen);
    return rc;
}

int hf_load(const char *dir, gpt_config *cfg, float **params, size_t *n, char *err) {
    char path[PATH_MAX];
    char *text;
    size_t len;
    *params = NULL;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (!exists(path))
        return err_set(err,
                       "%s: no config.json (not a Hugging Face model directory; get one with "
                       "quill pull MODEL --dir %s)",
                       dir, dir);
    if (slurp(path, &text, &len, err)) return -1;
    gpt_config c;
    int bad = hf_config_parse(text, len, path, &c, err);
    free(text);
    if (bad) return -1;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!exists(path)) {
        char alt[PATH_MAX];
        snprintf(alt, sizeof alt, "%s/model.safetensors.index.json", dir);
        if (exists(alt))
            return err_set(err,
                           "%s: sharded checkpoints (model.safetensors.index.json) are not "
                           "supported; save the model as one model.safetensors",
                           dir);
        snprintf(alt, sizeof alt, "%s/pytorch_model.bin", dir);
        if (exists(alt))
            return err_set(err,
                           "%s: has only pytorch_model.bin (a Python pickle, which quill does "
                           "not read); get model.safetensors: download it from the model's "
                           "Hugging Face page, or convert with transformers: "
                           "AutoModelForCausalLM.from_pretrained(dir).save_pretrained(dir, "
                           "safe_serialization=True)",
                           dir);
        return err_set(err, "%s: no model.safetensors", dir);
    }
    st_file *f;
    if (st_open(path, &f, err)) return -1;
    int n_t = gpt_layout_count(&c);
    gpt_tensor *g = malloc(n_t * sizeof *g);
    size_t total = gpt_layout(&c, g);
    /* check names and shapes first: a config asking for more than the file
    ** holds is refused before allocating what it asks for */
    bad = load_tensors(f, path, g, n_t, NULL, err);
    float *p = bad ? NULL : mem_huge_alloc(total * sizeof *p);
    if (!bad)
        bad = !p ? err_set(err, "%s: out of memory for %zu parameters", path, total)
                 : load_tensors(f, path, g, n_t, p, err);
    if (!bad) bad = gpt_params_check(&c, p, total, path, err);
    st_close(f);
    free(g);
    if (bad) {
        free(p);
        return -1;
    }
    *cfg = c;
    *params = p;
    *n = total;
    return 0;
}

/* Write text to dir/name; 0, or -1 with err naming the file. */
static int write_text(const char *dir, const char *name, const char *text, char *err) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp) return err_set(err, "%s: %s", path, strerror(errno));
    int bad = fputs(text, fp) < 0;
    if (fclose(fp) || bad) return err_set(err, "%s: write failed", path);
    return 0;
}

/* Copy from_dir/name to dir/name (a tokenizer file); 0, or -1 with err
** naming the file. */
static int copy_file(const char *from_dir, const char *dir, const char *name, char *err) {
    char path[PATH_MAX], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/%s", from_dir, name);
    if (slurp(path, &text, &len, err)) return err_prefix(err, "tokenizer");
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    int bad = !fp || fwrite(text, 1, len, fp) != len;
    if (fp && fclose(fp)) bad = 1;
    free(text);
    return bad ? err_set(err, "%s: write failed", path) : 0;
}

/* qsort order of st_entry by name (safetensors headers list tensors
** sorted). */
static int by_name(const void *a, const void *b) {
    return strcmp(((const st_entry *)a)->name, ((const st_entry *)b)->name);
}

static int save_files(const char *dir, const gpt_config *cfg, const float *params, int bf16,
                      const char *tok_dir, char *err);

int hf_save(const char *dir, const gpt_config *cfg, const float *params, int bf16,
            const char *tok_dir, char *err) {
    if (gpt_config_check(cfg, err)) return err_prefix(err, "%s", dir);
    tok *bundled = NULL;
    if (!tok_dir) { /* find the bundled one as the tokenizer does */
        if (tok_load(NULL, &bundled, err)) return err_prefix(err, "%s", dir);
        tok_dir = tok_source(bundled);
    }
    /* write into a folder beside dir and move the files in at the end: a
    ** failure leaves dir as it was, not half written */
    char *tmp = NULL;
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    int rc =
        asprintf(&tmp, "%.*s.tmp.XXXXXX", (int)len, dir) < 0 ? err_set(err, "out of memory") : 0;
    if (!rc && fs_mkdirs_for(tmp, err))
        rc = -1;
    else if (!rc && !mkdtemp(tmp))
        rc = err_set(err, "%s: %s", tmp, strerror(errno));
    else if (!rc) {
        mode_t mask = umask(0);
        umask(mask);
        chmod(tmp, 0755 & ~mask); /* mkdtemp's 0700 is not a model folder's mode */
        rc = save_files(tmp, cfg, params, bf16, tok_dir, err);
        if (!rc) rc = fs_move_files(tmp, dir, err);
        if (rc) fs_remove_flat(tmp);
    }
    free(tmp);
    tok_free(bundled);
    return rc;
}

/* hf_save() once the tokenizer directory is known. */
static int save_files(const char *dir, const gpt_config *cfg, const float *params, int bf16,
                      const char *tok_dir, char *err) {
    int n_t = gpt_layout_count(cfg);
    gpt_tensor *g = malloc(n_t * sizeof *g);
    gpt_layout(cfg, g);
    st_entry *e = malloc(n_t * sizeof *e);
    char(*names)[80] = malloc(n_t * sizeof *names);
    for (int k = 0; k < n_t; k++) {
        /* GPT2LMHeadModel's own names; lm_head.weight is tied to wte and, as
        ** save_pretrained() does, not written. */
        snprintf(names[k], sizeof names[k], "transformer.%s", g[k].name);
        e[k] =
            (st_entry){names[k], g[k].ndim, {g[k].shape[0], g[k].shape[1]}, params + g[k].offset};
    }
    /* The safetensors library lays tensors out sorted by name. */
    qsort(e, n_t, sizeof *e, by_name);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int bad = st_write(path, e, n_t, bf16, err);
    free(names);
    free(e);
    free(g);
    if (bad) return -1;
    char *config = hf_config_json(cfg, bf16 ? "bfloat16" : "float32"), *gen;
    bad = write_text(dir, "config.json", config, err);
    free(config);
    if (bad) return -1;
    if (asprintf(&gen,
                 "{\n  \"_from_model_config\": true,\n  \"bos_token_id\": %d,\n"
                 "  \"eos_token_id\": %d,\n  \"transformers_version\": \"" HF_TRANSFORMERS_VERSION
                 "\"\n}\n",
                 cfg->bos_token_id, cfg->eos_token_id) < 0)
        return err_set(err, "out of memory");
    bad = write_text(dir, "generation_config.json", gen, err);
    free(gen);
    char max_len[16];
    snprintf(max_len, sizeof max_len, "%d", cfg->n_positions);
    /* What GPT2Tokenizer.save_pretrained() writes for gpt2. */
    static const char *tok_config_a = "{\n"
                                      "  \"add_bos_token\": false,\n"
                                      "  \"add_prefix_space\": false,\n"
                                      "  \"added_tokens_decoder\": {\n"
                                      "    \"50256\": {\n"
                                      "      \"content\": \"<|endoftext|>\",\n"
                                      "      \"lstrip\": false,\n"
                                      "      \"normalized\": true,\n"
                                      "      \"rstrip\": false,\n"
                                      "      \"single_word\": false,\n"
                                      "      \"special\": true\n"
                                      "    }\n"
                                      "  },\n"
                                      "  \"bos_token\": \"<|endoftext|>\",\n"
                                      "  \"clean_up_tokenization_spaces\": true,\n"
                                      "  \"eos_token\": \"<|endoftext|>\",\n"
                                      "  \"errors\": \"replace\",\n"
                                      "  \"model_max_length\": ";
    static const char *tok_config_b = ",\n"
                                      "  \"pad_token\": null,\n"
                                      "  \"tokenizer_class\": \"GPT2Tokenizer\",\n"
                                      "  \"unk_token\": \"<|endoftext|>\"\n"
                                      "}\n";
    char tok_config[1024];
    snprintf(tok_config, sizeof tok_config, "%s%s%s", tok_config_a, max_len, tok_config_b);
    if (bad || write_text(dir, "tokenizer_config.json", tok_config, err) ||
        write_text(dir, "special_tokens_map.json",
                   "{\n  \"bos_token\": \"<|endoftext|>\",\n  \"eos_token\": \"<|endoftext|>\",\n"
                   "  \"unk_token\": \"<|endoftext|>\"\n}\n",
                   err) ||
        copy_file(tok_dir, dir, "vocab.json", err) || copy_file(tok_dir, dir, "merges.txt", err))
        return -1;
    return 0;
}

int hf_init_params(const gpt_config *cfg, uint64_t seed, float **params) {
    char err[ERR_LEN];
    *params = NULL;
    if (gpt_config_check(cfg, err)) return -1;
    int n_t = gpt_layout_count(cfg);
    gpt_tensor *g = malloc(n_t * sizeof *g);
    size_t total = gpt_layout(cfg, g);
    float *p = mem_huge_alloc(total * sizeof *p);
    if (!p) {
        free(g);
        return -1;
    }
    rng r;
    rng_seed(&r, seed);
    const double proj_std = 0.02 / sqrt(2.0 * cfg->n_layer);
    for (int k = 0; k < n_t; k++) {
        float *x = p + g[k].offset;
        const char *name = g[k].name;
        if (txt_ends_with(name, ".bias")) {
            memset(x, 0, g[k].numel * sizeof *x);
        } else if (strstr(name, "ln_")) {
            for (size_t i = 0; i < g[k].numel; i++)
                x[i] = 1.0f;
        } else {
            double sd = txt_ends_with(name, "c_proj.weight") ? proj_std : 0.02;
            for (size_t i = 0; i < g[k].numel; i++)
                x[i] = (float)(sd * rng_normal(&r));
        }
    }
    free(g);
    *params = p;
    return 0;
}
