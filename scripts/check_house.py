#!/usr/bin/env python3
"""The house rules of ARCHITECTURE.md, checked over the sources as text.

A module is a .c file and the .h of the same name (NAME_internal.h is
NAME's private header, so it belongs to NAME).  Module A depends on
module B when A's .c or .h includes "B.h".  Checked:
  - no cycle between modules;
  - core/ includes nothing from db/ or stages/, and not sqlite3.h;
  - db/ includes nothing from stages/;
  - no sqlite3_ call outside db/;
  - no function longer than MAX_FUNC lines (signature to closing brace),
    unless the comment right above it carries the marker
    "house: long kernel, because REASON" (a numeric kernel whose length is
    its speed; the reason is required);
  - every stages/*.c shorter than MAX_STAGE lines.
Prints one line per violation and exits 1 if there is any.
"""
import os, re, sys

ROOMS = ("core", "db", "stages")
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
MAX_FUNC = 80
MAX_STAGE = 400
# the exemption: in the comment block right above a function
LONG_KERNEL = re.compile(r"house:\s*long kernel,\s*because\s+\w")

def modules(root):
    """{module name: (room, [paths])} for every .c/.h in the rooms."""
    mods = {}
    for room in ROOMS:
        for f in sorted(os.listdir(os.path.join(root, room))):
            if f.endswith((".c", ".h")):
                name = f[:-2].removesuffix("_internal")
                mods.setdefault(name, (room, []))[1].append(os.path.join(room, f))
    return mods

def reach(graph, a):
    """Every module a depends on, directly or not."""
    seen, todo = set(), [a]
    while todo:
        for n in graph[todo.pop()]:
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen

def cycles(graph):
    """Each group of modules that depend on each other (sorted names)."""
    groups = set()
    for m in graph:
        r = reach(graph, m)
        if m in r:
            groups.add(tuple(sorted(n for n in r if m in reach(graph, n))))
    return sorted(groups)

def blank_out(text):
    """text with comments, string and character literals and preprocessor
    lines replaced by spaces (newlines kept), so braces can be counted."""
    out, i, n = [], 0, len(text)
    at_line_start = True
    while i < n:
        c = text[i]
        if at_line_start and c == "#" :
            j = i
            while j < n and (text[j] != "\n" or text[j - 1] == "\\"):
                j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
            continue
        if c in " \t":
            out.append(c)
            i += 1
            continue
        at_line_start = c == "\n"
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j += 1
        else:
            out.append(c)
            i += 1
            continue
        out.append(re.sub(r"[^\n]", " ", text[i:j]))
        i = j
    return "".join(out)

def functions(text):
    """(name, first line, last line) of each function defined in C text:
    a top-level brace whose header (the code since the previous top-level
    item) ends in ')' and holds no '='.  Lines count from 1."""
    code = blank_out(text)
    found, depth, start, head_start = [], 0, None, 0
    line = 1
    for i, c in enumerate(code):
        if c == "\n":
            line += 1
        elif c == "{":
            if depth == 0:
                head = code[head_start:i]
                m = re.search(r"(\w+)\s*\([^;]*\)\s*$", head)
                start = None
                if m and "=" not in head:

                    body_start = head_start + len(head) - len(head.lstrip())
                    start = (m.group(1), code.count("\n", 0, body_start) + 1)
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                if start:
                    found.append((start[0], start[1], line))
                start = None
                head_start = i + 1
        elif c == ";" and depth == 0:
            head_start = i + 1
    return found

def long_functions(path, text):
    """A violation line for each function over MAX_FUNC lines without the
    long-kernel marker in the comment right above it."""
    lines = text.split("\n")
    bad = []
    for name, first, last in functions(text):
        n = last - first + 1
        if n <= MAX_FUNC:
            continue
        above, k = [], first - 2
        while k >= 0 and lines[k].strip() and not lines[k].rstrip().endswith(("}", ";")):
            above.append(lines[k])
            k -= 1
        if LONG_KERNEL.search("\n".join(above)):
            continue
        bad.append(f"{path}:{first}: function {name} is {n} lines (at most {MAX_FUNC}; "
                   f"a kernel may say why with a comment 'house: long kernel, because ...')")
    return bad

def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    mods = modules(root)
    bad = []
    graph = {m: set() for m in mods}
    for m, (room, paths) in mods.items():
        for p in paths:
            text = open(os.path.join(root, p), encoding="utf-8", errors="replace").read()
            for inc in INCLUDE.findall(text):
                dep = os.path.basename(inc)[:-2].removesuffix("_internal") if inc.endswith(".h") else None
                if inc == "sqlite3.h" and room == "core":
                    bad.append(f"{p}: core/ includes sqlite3.h")
                if dep in mods and dep != m:
                    graph[m].add(dep)
                    dep_room = mods[dep][0]
                    if room == "core" and dep_room != "core":
                        bad.append(f"{p}: core/ includes {dep_room}/{dep}.h")
                    if room == "db" and dep_room == "stages":
                        bad.append(f"{p}: db/ includes stages/{dep}.h")
            if room != "db" and re.search(r"\bsqlite3_\w+\s*\(", text):
                bad.append(f"{p}: calls sqlite3_ outside db/")
            if p.endswith(".c"):
                bad.extend(long_functions(p, text))
                nlines = text.count("\n")
                if room == "stages" and nlines >= MAX_STAGE:
                    bad.append(f"{p}: {nlines} lines (a stage file stays under {MAX_STAGE})")
    for group in cycles(graph):
        bad.append("modules that include each other: " + ", ".join(group))
    for b in bad:
        print(b)
    return 1 if bad else 0

if __name__ == "__main__":
    sys.exit(main())
