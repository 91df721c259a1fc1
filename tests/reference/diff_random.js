#!/usr/bin/env node
// Differential test (not part of make test): N random strings of code points
// from every plane, tokenized by Hugging Face (npm tokenizers, built as in
// gen_tok_fixtures.js) and by `quill tokenize --jsonl`; prints the strings
// whose ids differ and the count.  Usage: node diff_random.js [SEED] [N]
'use strict';
const fs = require('fs'); const path = require('path');
const { execFileSync } = require('child_process');
const { Tokenizer } = require('tokenizers');
const root = path.resolve(__dirname, '../..');
const vocab = JSON.parse(fs.readFileSync(root + '/models/gpt2/vocab.json', 'utf8'));
const merges = fs.readFileSync(root + '/models/gpt2/merges.txt', 'utf8').split('\n').filter((l, i) => l.length && !(i === 0 && l.startsWith('#version')));
const bl = { add_prefix_space: false, trim_offsets: true, use_regex: true };
const hf = Tokenizer.fromString(JSON.stringify({ version: '1.0', truncation: null, padding: null, added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }], normalizer: null, pre_tokenizer: { type: 'ByteLevel', ...bl }, post_processor: null, decoder: { type: 'ByteLevel', ...bl }, model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges } }));
let x = Number(process.argv[2] || 1);
const rnd = (n) => { x = (x * 1103515245 + 12345) % 2147483648; return Math.floor(x / 2147483648 * n); };
function cp() {
  const r = rnd(10);
  let c;
  if (r < 3) c = 0x20 + rnd(0x60);
  else if (r < 4) c = [0x20, 0x20, 0x0a, 0x09, 0x27, 0x73, 0x85, 0xa0, 0x3000, 0x2028, 0x1680][rnd(11)];
  else if (r < 8) c = rnd(0x10000);
  else c = 0x10000 + rnd(0x100000);
  if (c >= 0xd800 && c < 0xe000) c = 0x41;
  return String.fromCodePoint(c);
}
(async () => {
  const lines = [], want = [];
  const N = Number(process.argv[3] || 20000);
  for (let i = 0; i < N; i++) { let s = ''; const n = 1 + rnd(30); for (let k = 0; k < n; k++) s += cp(); lines.push(JSON.stringify({ text: s })); want.push((await hf.encode(s, null, { addSpecialTokens: false })).getIds().join(',')); }
  const got = execFileSync(path.join(root, 'quill'), ['tokenize', '--jsonl'],
      { input: lines.join('\n') + '\n', maxBuffer: 1 << 30 }).toString().trim().split('\n')
      .map((l) => JSON.parse(l).ids.join(','));
  let bad = 0;
  for (let i = 0; i < N; i++) if (got[i] !== want[i]) { bad++; if (bad <= 10) console.log('differs:', lines[i], want[i], got[i]); }
  console.log(`${N} random strings, ${bad} differ from Hugging Face`);
  process.exitCode = bad ? 1 : 0;
})();
