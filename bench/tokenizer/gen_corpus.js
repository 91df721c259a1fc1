#!/usr/bin/env node
// Writes a deterministic benchmark corpus of about MB megabytes to OUT:
// paragraphs of shuffled, altered Frankenstein words mixed with synthetic
// Greek, Cyrillic, CJK, Arabic, accented-Latin words, numbers and emoji, so
// that a word cache cannot make encoding trivial.  Every paragraph starts
// with an ASCII capital and ends with ".\n" (so encoding paragraph by
// paragraph gives the same ids as encoding the whole text).
// Usage: node gen_corpus.js FRANKENSTEIN OUT MB
'use strict';
const fs = require('fs');
const [src, out, mb] = process.argv.slice(2);
const words = fs.readFileSync(src, 'utf8').split(/\s+/).filter((w) => w.length);
let x = 987654321;
const rnd = (n) => { x = (x * 1103515245 + 12345) % 2147483648; return Math.floor((x / 2147483648) * n); };
const range = (lo, hi, len) => { let s = ''; for (let i = 0; i < len; i++) s += String.fromCodePoint(lo + rnd(hi - lo + 1)); return s; };
const abc = 'abcdefghijklmnopqrstuvwxyz';
const accents = 'àáâäãåçèéêëìíîïñòóôöõùúûüýÿßæœ';
const emoji = ['😀', '👍🏽', '🇫🇷', '👨‍👩‍👧', '❤️', '🎉'];
const punct = [',', ';', ':', '!', '?', '—', '"', "'s", "'ll", '...', '(', ')'];

function latin() {
    let w = words[rnd(words.length)];
    const r = rnd(10);
    if (r < 3) { const i = rnd(w.length); w = w.slice(0, i) + abc[rnd(26)] + w.slice(i + 1); }
    else if (r < 4) w = w.toUpperCase();
    else if (r < 5) w = w + abc[rnd(26)] + abc[rnd(26)];
    else if (r < 6) { const i = rnd(w.length); w = w.slice(0, i) + accents[rnd(accents.length)] + w.slice(i); }
    return w;
}
function word() {
    const r = rnd(100);
    if (r < 62) return latin();
    if (r < 69) return range(0x3b1, 0x3c9, 2 + rnd(8));     // Greek
    if (r < 77) return range(0x430, 0x44f, 2 + rnd(9));     // Cyrillic
    if (r < 83) return range(0x4e00, 0x9fa5, 1 + rnd(6));   // CJK
    if (r < 89) return range(0x627, 0x64a, 2 + rnd(7));     // Arabic
    if (r < 95) return String(rnd(1000000));                // numbers
    if (r < 97) return emoji[rnd(emoji.length)];
    return punct[rnd(punct.length)];
}
const target = Number(mb) * 1e6;
const fd = fs.openSync(out, 'w');
let size = 0;
while (size < target) {
    let p = String.fromCharCode(65 + rnd(26));
    const n = 40 + rnd(160);
    for (let i = 0; i < n; i++) {
        const sep = rnd(40) === 0 ? (rnd(2) ? '  ' : '\t') : ' ';
        p += sep + word();
    }
    p += '.\n';
    const b = Buffer.from(p, 'utf8');
    fs.writeSync(fd, b);
    size += b.length;
}
fs.closeSync(fd);
