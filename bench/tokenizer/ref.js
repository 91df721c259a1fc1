#!/usr/bin/env node
// Times Hugging Face `tokenizers` (Node binding, Rust), native tiktoken
// (`tiktoken-node`, Rust via N-API) and `tiktoken` (WASM) on one thread:
// encode and decode of CORPUS paragraph by paragraph (lines).  Prints one
// JSON line per tokenizer: {name, tokens, encode_s, decode_s, bytes}.
// Usage: node ref.js CORPUS   (from bench/tokenizer, after npm install)
'use strict';
process.env.RAYON_NUM_THREADS = '1';
process.env.TOKENIZERS_PARALLELISM = 'false';
const fs = require('fs');
const path = require('path');
const root = path.resolve(__dirname, '../..');
const ref = path.join(root, 'tests/reference/node_modules');
const { Tokenizer } = require(path.join(ref, 'tokenizers'));
const tiktokenNode = require(path.join(ref, 'tiktoken-node'));
const tiktokenWasm = require(path.join(ref, 'tiktoken'));

const buf = fs.readFileSync(process.argv[2]);
const paras = buf.toString('utf8').split(/(?<=\n)/);
const vocab = JSON.parse(fs.readFileSync(path.join(root, 'models/gpt2/vocab.json'), 'utf8'));
const merges = fs.readFileSync(path.join(root, 'models/gpt2/merges.txt'), 'utf8')
    .split('\n').filter((l, i) => l.length && !(i === 0 && l.startsWith('#version')));
const bl = { add_prefix_space: false, trim_offsets: true, use_regex: true };
const hf = Tokenizer.fromString(JSON.stringify({
    version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', ...bl }, post_processor: null,
    decoder: { type: 'ByteLevel', ...bl },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '',
        end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges } }));
const now = () => Number(process.hrtime.bigint()) / 1e9;

async function run(name, enc, dec) {
    let t = now(), tokens = 0;
    const all = [];
    for (const p of paras) { const ids = await enc(p); tokens += ids.length; all.push(ids); }
    const encode_s = now() - t;
    t = now();
    let out = 0;
    for (const ids of all) out += Buffer.byteLength(await dec(ids));
    const decode_s = now() - t;
    console.log(JSON.stringify({ name, tokens, encode_s, decode_s, bytes: buf.length, decoded: out }));
}

(async () => {
    const tn = tiktokenNode.getEncoding('gpt2');
    await run('tiktoken (native, tiktoken-node)', (p) => tn.encode(p), (ids) => tn.decode(ids));
    const tw = tiktokenWasm.get_encoding('gpt2');
    const td = new TextDecoder();
    await run('tiktoken (WASM, npm tiktoken)', (p) => tw.encode_ordinary(p),
        (ids) => td.decode(tw.decode(ids)));
    await run('HF tokenizers (Node binding)',
        async (p) => (await hf.encode(p, null, { addSpecialTokens: false })).getIds(),
        (ids) => hf.decode(ids, false));
})();
