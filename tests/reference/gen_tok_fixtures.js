#!/usr/bin/env node
// Makes tests/fixtures/tok_reference.json: GPT-2 token ids of many texts as
// Hugging Face's own tokenizer (npm `tokenizers`, the official Node binding
// of the Rust library) gives them, cross-checked with native tiktoken
// (npm `tiktoken-node`, Rust via N-API; the `tiktoken` package, WASM, for
// encode_ordinary).  Test-only; run from anywhere:
//   cd tests/reference && npm ci   (package.json pins tokenizers, tiktoken-node, tiktoken)
//   node gen_tok_fixtures.js
// The HF tokenizer is built from models/gpt2 as the tokenizer.json of
// GPT2TokenizerFast: ByteLevel pre-tokenizer (no prefix space, GPT-2 regex),
// BPE, <|endoftext|> an added special token.
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('tokenizers');
const tiktokenNode = require('tiktoken-node');
const tiktokenWasm = require('tiktoken');

const root = path.resolve(__dirname, '../..');
const vocab = JSON.parse(fs.readFileSync(path.join(root, 'models/gpt2/vocab.json'), 'utf8'));
const merges = fs.readFileSync(path.join(root, 'models/gpt2/merges.txt'), 'utf8')
    .split('\n').filter((l, i) => l.length && !(i === 0 && l.startsWith('#version')));

function hfTokenizer(withSpecial) {
    const byteLevel = { add_prefix_space: false, trim_offsets: true, use_regex: true };
    const json = {
        version: '1.0', truncation: null, padding: null,
        added_tokens: withSpecial ? [{ id: 50256, content: '<|endoftext|>', single_word: false,
            lstrip: false, rstrip: false, normalized: true, special: true }] : [],
        normalizer: null,
        pre_tokenizer: { type: 'ByteLevel', ...byteLevel },
        post_processor: { type: 'ByteLevel', ...byteLevel, trim_offsets: false },
        decoder: { type: 'ByteLevel', ...byteLevel },
        model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '',
            end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
    };
    return Tokenizer.fromString(JSON.stringify(json));
}

// FNV-1a 64 over the ids as little-endian uint32 (tests/test_tok.c does the same).
function fnv(ids) {
    let h = 0xcbf29ce484222325n;
    const p = 0x100000001b3n, m = (1n << 64n) - 1n;
    for (const id of ids)
        for (let b = 0; b < 4; b++) h = ((h ^ BigInt((id >>> (8 * b)) & 255)) * p) & m;
    return h.toString(16).padStart(16, '0');
}

// Deterministic pseudo-random mixtures of scripts, spaces and punctuation.
function mixtures(count) {
    const pool = ['a', 'Z', 'é', 'ß', 'Ω', 'ж', 'Я', '中', '語', 'ア', 'ㄱ', 'ب', 'ה', 'क', '्', 'ก',
        '1', '9', '٣', '½', '²', ' ', ' ', ' ', '\t', '\n', '\r', '\u00a0', '\u3000', '\u2009', '\u0085',
        '\u200b', '\ufeff', '\u180e', '\u0000', '\u0007', '.', ',', '!', '?', "'", '"', '-', '_', '<',
        '|', '😀', '👍🏽', '\u0301', "'s", "'ll", "'RE", '<|endoftext|>', '  ', '\n\n', 'the', ' of'];
    let x = 12345;
    const rnd = (n) => { x = (x * 1103515245 + 12345) % 2147483648; return x % n; };
    const out = [];
    for (let i = 0; i < count; i++) {
        let s = '';
        const len = 1 + rnd(40);
        for (let k = 0; k < len; k++) s += pool[rnd(pool.length)];
        out.push(s);
    }
    return out;
}

const cases = [
    ['notebook', 'Behold! An alabaster anemone. Zzzzap!'],
    ['notebook_batch1', 'this is a test'],
    ['notebook_batch2', 'this is another test'],
    ['empty', ''],
    ['contractions', "I'm can't won't they're we've you'll he'd it's o'clock rock'n'roll"],
    ['contractions_upper', "I'M CAN'T WON'T THEY'RE WE'VE YOU'LL HE'D IT'S"],
    ['contractions_odd', "'s 's' ''s '''re 'S 'Ll x'y 'lly 'ree 'd'd ' s"],
    ['spaces_runs', 'a  b   c    d     e      f'],
    ['spaces_trailing', 'word   '],
    ['spaces_leading', '   word'],
    ['spaces_only', '     '],
    ['tabs', 'a\tb\t\tc\t'],
    ['newlines', 'a\nb\n\nc\n\n\n'],
    ['mixed_ws', ' \t\n \r\n  x \n\t y\t \n'],
    ['crlf', 'line one\r\nline two\r\n\r\n'],
    ['numbers', '123 4567 89012345 3.14159 1,000,000 2024-01-01 0x1F 1st 2nd'],
    ['numbers_unicode', '½ ² ٣٤ ⅷ ①② 𝟙𝟚 ༣'],
    ['punctuation', '!!! ??? ... --- !?!? (hello) [x] {y} "quoted" \'\'\' ```code``` ~~~ @#$%^&*'],
    ['accented', 'café naïve résumé Ångström Zürich élève façade Œuvre ñandú'],
    ['greek', 'Καλημέρα κόσμε, αβγ ΑΒΓ ἀρχή'],
    ['cyrillic', 'Привет, мир! Ёжик в тумане.'],
    ['cjk', '你好，世界。日本語のテキスト 한국어 문장'],
    ['arabic', 'مرحبا بالعالم ١٢٣ السَّلَامُ'],
    ['hebrew_hindi_thai', 'שלום עולם नमस्ते दुनिया สวัสดีชาวโลก'],
    ['emoji', '👨‍👩‍👧‍👦 🏳️‍🌈 🇺🇸🇫🇷 👍🏽 ❤️ 😀😀 a😀b'],
    ['combining', 'e\u0301 a\u0308 n\u0303 Z\u0351\u0362a\u0360 \u0301x'],
    ['zero_width', 'a\u200bb\u200cc\u200dd\ufeffe \u2060f\u00adg'],
    ['control', '\u0001\u0002\u007f x\u0085y\u0085 \u0085\u0085z \u001c\u001d\u001e\u001f'],
    ['nul', 'a\u0000b \u0000\u0000 c\u0000'],
    ['unicode_spaces', 'a\u00a0b\u1680c\u2000d\u2001e\u2002f\u2003g\u2004h\u2005i\u2006j\u2007k' +
        '\u2008l\u2009m\u200an\u2028o\u2029p\u202fq\u205fr\u3000s \u00a0 t\u3000\u3000u \u180e v'],
    ['unicode_spaces_runs', 'x\u00a0\u00a0\u00a0y \u3000 z\u2003 \u2003w   \u00a0'],
    ['surrogate_pairs', '𝓗𝓮𝓵𝓵𝓸 𐍈 𠜎𠜱'],
    ['endoftext', 'Hello<|endoftext|>World <|endoftext|> <|endoftext|><|endoftext|>x'],
    ['endoftext_partial', '<|endoftext| <|endoftext|>> <<|endoftext|> <|endof'],
    ['long_word', null, { unit: 'supercalifragilistic', count: 500 }],
    ['long_word_xyz', null, { unit: 'x', count: 10000 }],
    ['spaces_100k', null, { unit: ' ', count: 100000 }],
    ['spaces_100k_between', null, { prefix: 'x', unit: ' ', count: 100000, suffix: 'y' }],
    ['newlines_5k', null, { unit: '\n', count: 5000, suffix: 'end' }],
    ['digits_10k', null, { unit: '0123456789', count: 1000 }],
];
mixtures(300).forEach((s, i) => cases.push(['mix' + i, s]));

function pkgVersion(name) {
    return JSON.parse(fs.readFileSync(path.join(__dirname, 'node_modules', name, 'package.json'))).version;
}

function gen(g) { return (g.prefix || '') + g.unit.repeat(g.count) + (g.suffix || ''); }

(async () => {
    const hf = hfTokenizer(true), hfPlain = hfTokenizer(false);
    const ttn = tiktokenNode.getEncoding('gpt2');
    const ttw = tiktokenWasm.get_encoding('gpt2');
    const out = { made_by: 'tests/reference/gen_tok_fixtures.js (npm tokenizers ' +
        pkgVersion('tokenizers') + ', tiktoken-node ' +
        pkgVersion('tiktoken-node') + ')', cases: [] };
    let disagree = 0;
    for (const [name, text0, g] of cases) {
        const text = g ? gen(g) : text0;
        for (const special of [true, false]) {
            if (!special && !text.includes('<|endoftext|>') && !name.startsWith('notebook')) continue;
            const ids = (await (special ? hf : hfPlain).encode(text, null,
                { addSpecialTokens: false })).getIds();
            const tt = special ? ttn.encode(text) : Array.from(ttw.encode_ordinary(text));
            const agree = tt.length === ids.length && tt.every((v, i) => v === ids[i]);
            if (!agree) { disagree++; console.error(`tiktoken differs from HF on ${name}`); }
            const c = { name, special };
            if (g) c.gen = g; else c.text = text;
            if (ids.length > 1500) { // long outputs: count, hash and head keep the fixture small
                c.ids_count = ids.length;
                c.ids_fnv1a64 = fnv(ids);
                c.ids_first = ids.slice(0, 64);
            } else {
                c.ids = ids;
            }
            c.tiktoken_agrees = agree;
            out.cases.push(c);
        }
    }
    const nb = out.cases.find((c) => c.name === 'notebook').ids.join(' ');
    if (nb !== '3856 2946 0 1052 435 397 1603 281 368 505 13 1168 3019 89 499 0')
        throw new Error('HF tokenizer does not reproduce the notebook: ' + nb);
    const frank = fs.readFileSync(path.join(root, 'recipes/corpora/frankenstein.txt'), 'utf8');
    const fids = (await hf.encode(frank, null, { addSpecialTokens: false })).getIds();
    const ftt = ttn.encode(frank);
    out.frankenstein = { file: 'recipes/corpora/frankenstein.txt', count: fids.length,
        fnv1a64: fnv(fids), first: fids.slice(0, 64),
        tiktoken_agrees: fnv(ftt) === fnv(fids) && ftt.length === fids.length };
    fs.writeFileSync(path.join(root, 'tests/fixtures/tok_reference.json'),
        JSON.stringify(out, null, 0).replace(/\{"name"/g, '\n{"name"') + '\n');
    console.log(`${out.cases.length} cases, frankenstein ${fids.length} ids, ` +
        `${disagree} tiktoken disagreements`);
})();
