#!/usr/bin/env node
// Makes the group stage's reference: what the notebook's pipeline gives for
// the first 20 000 characters of Frankenstein, with Hugging Face's own GPT-2
// tokenizer (npm `tokenizers`, built as gen_tok_fixtures.js does):
//   lines mode: datasets.load_dataset('text') (universal newlines, one
//     example per line, line break dropped, empty lines give empty examples),
//     tokenizer(x['text']) per line, then run_clm's group_texts mapped with
//     batched=True (batches of 1000 examples; also 100 to exercise batching);
//   document mode: the whole text as one example.
// Writes tests/fixtures/group/{frankenstein-20k.txt, lines-b1000.u32,
// lines-b100.u32, document.u32} (blocks of 64 ids, little-endian uint32).
//   cd tests/reference && npm install tokenizers && node gen_group_fixture.js
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('tokenizers');

const root = path.resolve(__dirname, '../..');
const out = path.join(root, 'tests/fixtures/group');
const vocab = JSON.parse(fs.readFileSync(path.join(root, 'models/gpt2/vocab.json'), 'utf8'));
const merges = fs.readFileSync(path.join(root, 'models/gpt2/merges.txt'), 'utf8')
    .split('\n').filter((l, i) => l.length && !(i === 0 && l.startsWith('#version')));
const byteLevel = { add_prefix_space: false, trim_offsets: true, use_regex: true };
const tok = Tokenizer.fromString(JSON.stringify({
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false,
        rstrip: false, normalized: true, special: true }],
    normalizer: null, pre_tokenizer: { type: 'ByteLevel', ...byteLevel },
    post_processor: { type: 'ByteLevel', ...byteLevel, trim_offsets: false },
    decoder: { type: 'ByteLevel', ...byteLevel },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '',
        end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
}));

async function encode(text) {
    return text.length ? Array.from((await tok.encode(text)).getIds()) : [];
}

// run_clm's group_texts over Dataset.map batches of `batch` examples.
function group(examples, blockSize, batch) {
    const blocks = [];
    for (let k = 0; k < examples.length; k += batch) {
        const cat = [].concat(...examples.slice(k, k + batch));
        const total = Math.floor(cat.length / blockSize) * blockSize;
        for (let i = 0; i < total; i += blockSize) blocks.push(cat.slice(i, i + blockSize));
    }
    return blocks;
}

function write(name, blocks) {
    const flat = [].concat(...blocks);
    const buf = Buffer.alloc(4 * flat.length);
    flat.forEach((v, i) => buf.writeUInt32LE(v, 4 * i));
    fs.writeFileSync(path.join(out, name), buf);
    console.log(name, blocks.length, 'blocks');
}

(async () => {
    const full = fs.readFileSync(path.join(root, 'recipes/corpora/frankenstein.txt'), 'utf8');
    const text = Array.from(full).slice(0, 20000).join(''); // Python's [:20000]: code points
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'frankenstein-20k.txt'), text);
    const lines = text.replace(/\r\n?/g, '\n').split('\n');
    if (lines[lines.length - 1] === '') lines.pop(); // readlines: no example after a final break
    const examples = [];
    for (const l of lines) examples.push(await encode(l));
    write('lines-b1000.u32', group(examples, 64, 1000));
    write('lines-b100.u32', group(examples, 64, 100));
    write('document.u32', group([await encode(text)], 64, 1000));
})();
