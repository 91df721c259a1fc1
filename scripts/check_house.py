#!/usr/bin/env python3
"""The house rules of ARCHITECTURE.md, checked over the sources as text.

A module is a .c file and the .h of the same name (NAME_internal.h is
NAME's private header, so it belongs to NAME).  Module A depends on
module B when A's .c or .h includes "B.h".  Checked:
  - no cycle between modules;
  - core/ includes nothing from db/ or stages/, and not sqlite3.h;
  - db/ includes nothing from stages/;
  - no sqlite3_ call outside db/.
Prints one line per violation and exits 1 if there is any.
"""
import os, re, sys

ROOMS = ("core", "db", "stages")
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)

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
    for group in cycles(graph):
        bad.append("modules that include each other: " + ", ".join(group))
    for b in bad:
        print(b)
    return 1 if bad else 0

if __name__ == "__main__":
    sys.exit(main())
