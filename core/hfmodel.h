/*
** Hugging Face GPT-2 directories in and out, and GPT-2's initialisation.
**
** A model is a gpt_config plus one malloc'd flat fp32 array in gpt_layout
** order (gpt_layout.h).  hf_load() reads config.json and model.safetensors
** (F32, F16 or BF16; names with or without "transformer."; lm_head.weight
** absent or equal to wte; attention mask buffers ignored).  hf_save() writes
** what transformers' from_pretrained() loads unchanged, laid out as
** GPT2LMHeadModel.save_pretrained() does (F32 by default, BF16 on request).
*/
#ifndef QUILL_HFMODEL_H
#define QUILL_HFMODEL_H

#include "gpt_layout.h"

#include <stddef.h>
#include <stdint.h>

/* Parse a config.json text (what names it in errors).  Unknown keys are
** ignored, missing optional keys take GPT-2's defaults; a key of the wrong
** type, a model_type other than gpt2, or an unusable config is an error. */
int hf_config_parse(const char *text, size_t n, const char *what, gpt_config *cfg, char *err);

/* config.json text as transformers writes it for GPT2LMHeadModel (sorted
** keys, architectures, model_type, n_ctx, torch_dtype, ...).  torch_dtype is
** "float32" or "bfloat16".  Malloc'd, NUL-terminated. */
char *hf_config_json(const gpt_config *cfg, const char *torch_dtype);

/* Load dir (config.json + model.safetensors).  *params is malloc'd with
** *n floats.  Errors name the file and tensor. */
int hf_load(const char *dir, gpt_config *cfg, float **params, size_t *n, char *err);

/* Write dir (created if needed; existing files replaced): config.json,
** model.safetensors, generation_config.json, tokenizer_config.json,
** special_tokens_map.json, and vocab.json and merges.txt copied from
** tok_dir (NULL: the bundled GPT-2 tokenizer, found as tok_load() does).
** The files are written into DIR.tmp.XXXXXX beside dir and moved in at the
** end: on failure dir is as it was and the temporary folder is removed. */
int hf_save(const char *dir, const gpt_config *cfg, const float *params, int bf16,
            const char *tok_dir, char *err);

/* A new model with GPT-2's initialisation from seed: weights and embeddings
** normal(0, 0.02), attn.c_proj and mlp.c_proj weights normal(0,
** 0.02/sqrt(2*n_layer)), biases 0, LayerNorm weights 1.  *params malloc'd
** (gpt_layout() floats).  Returns 0, or -1 when the config is unusable. */
int hf_init_params(const gpt_config *cfg, uint64_t seed, float **params);

#endif
