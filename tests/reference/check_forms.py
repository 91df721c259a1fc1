#!/usr/bin/env python3
"""Independent checker of poetic forms (issue 16), written from the issue's
definitions alone; shares no code with quill.

usage: check_forms.py CMUDICT [--syllables 5,7,5 | --form haiku] [--rhyme ABAB] [--acrostic W]
           [--vocabulary FILE] [--lines N] [--forbid-chars CHARS]
           [--banned-words a,b] < outputs.jsonl

Reads quill's --json lines.  An output whose finish_reason is "form" must
satisfy the whole form; any other output must be a correct beginning of one
(every finished line right, the line in progress not over its count, every
finished word allowed) and must not end as "eos" or "stop_string" when the
form has lines.  Prints the number of outputs, completed forms and
violations (each violation on its own line) and exits 1 on any violation.
"""
import argparse
import json
import re
import sys

WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
FORM_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ' \n,.;:!?-\"")


def load_dict(path):
    """word -> (syllables, rhyming part) from each word's first entry."""
    d = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            head, *phones = line.split()
            if "(" in head or head in d:
                continue
            vowels = [i for i, p in enumerate(phones) if p[-1].isdigit()]
            stressed = [i for i in vowels if p_stress(phones[i]) in "12"]
            start = stressed[-1] if stressed else (vowels[-1] if vowels else 0)
            d[head] = (len(vowels), " ".join(phones[start:]))
    return d


def p_stress(p):
    return p[-1]


def split_lines(text):
    pieces = text.split("\n")
    if pieces and pieces[0] == "":
        pieces = pieces[1:]
    if pieces and pieces[-1] == "":
        pieces = pieces[:-1]
    return pieces


def check(out, a, cmu, vocab):
    """The violations of one output (a list of strings)."""
    v = []
    text = out["continuation"]
    complete = out["finish_reason"] == "form"
    dict_mode = bool(a.syllables or a.rhyme)
    syll = [int(x) for x in a.syllables.split(",")] if a.syllables else None
    nlines = max(len(syll or []), len(a.rhyme or ""), len(a.acrostic or ""), a.lines or 0)
    if nlines and out["finish_reason"] in ("eos", "stop_string"):
        v.append("ended as %s without completing the form" % out["finish_reason"])
    if dict_mode:
        bad = sorted(set(c for c in text if c not in FORM_CHARS))
        if bad:
            v.append("characters outside the form's set: %r" % bad)
    for c in a.forbid_chars or "":
        if c.lower() in text.lower():
            v.append("forbidden character %r" % c)
    words = [(m.group(0), m.start(), m.end()) for m in WORD.finditer(text)]
    # a word at the end of an incomplete text ("wor", "don'") may still grow
    growing = not complete and words and text[words[-1][2]:] in ("", "'")
    finished = words[:-1] if growing else words
    for w, _, _ in finished:
        lw = w.lower()
        if dict_mode and lw not in cmu:
            v.append("word %r not in the dictionary" % w)
        if vocab is not None and lw not in vocab:
            v.append("word %r not in the vocabulary" % w)
        if lw in (a.banned_words or []):
            v.append("banned word %r" % w)
    if not nlines:
        return v
    lines = split_lines(text)
    if complete and len(lines) != nlines:
        v.append("%d lines, not %d" % (len(lines), nlines))
    if len(lines) > nlines:
        v.append("more than %d lines" % nlines)
    # a line is finished when a newline follows it (or the form is complete)
    ends_nl = text.endswith("\n")
    for i, line in enumerate(lines[:nlines]):
        done = complete or i < len(lines) - 1 or ends_nl
        if line == "" and done:
            v.append("line %d is empty" % (i + 1))
        if a.acrostic and line and line[0].lower() != a.acrostic[i].lower():
            v.append("line %d starts with %r, not %r" % (i + 1, line[0], a.acrostic[i]))
        lw = [m.group(0).lower() for m in WORD.finditer(line)]
        if not done and growing and lw:
            lw = lw[:-1]  # the word in progress
        if syll and all(w in cmu for w in lw):
            n = sum(cmu[w][0] for w in lw)
            if n > syll[i] or (done and n != syll[i]):
                v.append("line %d has %d syllables, not %d" % (i + 1, n, syll[i]))
    if a.rhyme:
        last = {}
        for i, line in enumerate(lines[:nlines]):
            done = complete or i < len(lines) - 1 or ends_nl
            if not done:
                continue
            lw = [m.group(0).lower() for m in WORD.finditer(line)]
            if not lw:
                v.append("line %d has no word to rhyme" % (i + 1))
                continue
            last[i] = lw[-1]
        for i in last:
            for j in last:
                if j >= i or a.rhyme[i] != a.rhyme[j]:
                    continue
                wi, wj = last[i], last[j]
                if wi not in cmu or wj not in cmu:
                    continue
                if wi == wj or cmu[wi][1] != cmu[wj][1]:
                    v.append("lines %d and %d: %r and %r do not rhyme" % (j + 1, i + 1, wj, wi))
    return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmudict")
    ap.add_argument("--syllables")
    ap.add_argument("--form", choices=["haiku"])
    ap.add_argument("--rhyme")
    ap.add_argument("--acrostic")
    ap.add_argument("--vocabulary")
    ap.add_argument("--lines", type=int)
    ap.add_argument("--forbid-chars")
    ap.add_argument("--banned-words", type=lambda s: [w.lower() for w in s.split(",")])
    a = ap.parse_args()
    if a.form == "haiku":
        a.syllables = "5,7,5"
    cmu = load_dict(a.cmudict)
    vocab = None
    if a.vocabulary:
        vocab = set(w.strip().lower() for w in open(a.vocabulary) if w.strip())
    n = complete = bad = 0
    for line in sys.stdin:
        out = json.loads(line)
        n += 1
        complete += out["finish_reason"] == "form"
        for msg in check(out, a, cmu, vocab):
            bad += 1
            print("violation: %s in %r (%s)" % (msg, out["continuation"], out["finish_reason"]))
    print("%d outputs, %d complete, %d violations" % (n, complete, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
