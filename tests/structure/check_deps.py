"""The source tree's dependency rules, checked on the sources.

Bindings (lua/l_*.c, lua/l_*.h): a binding file depends on the engine and
the helper kit, not on other binding files. Its quoted includes may name
  - the kit's headers, l_common.h and l_args.h;
  - engine headers (resolved under engine/);
  - its own area's headers: l_AREA.h and l_AREA_priv.h for l_AREA*.c (the
    tensor binding is l_tensor*.c with l_tensor_priv.h);
  - embedded.h, the table of embedded Lua modules the build generates.
Functions a binding calls across files go through l_common.h; those a
binding file defines for another area are only the accessors and openers
listed in ACCESSORS below (checked on the definitions: every ol_l_*/ol_open_*
function defined in a binding file and called from a file of another area
must be listed there). The kit's files (l_common.c, l_args.c, l_closure.c)
include only the kit's headers and engine headers.

Engine (engine/**/*.c, *.h): no include cycle between headers, and no cycle
between its folders (engine/ itself is the core).

Usage: check_deps.py SOURCE_DIR. Exits 1 naming every violation."""
import os
import re
import sys

KIT_HEADERS = {"l_common.h", "l_args.h"}
KIT_FILES = {"l_common.c", "l_args.c", "l_closure.c"}
GENERATED = {"embedded.h"}
# Userdata accessors and openers other areas may call (declared in l_common.h).
ACCESSORS = {
    "ol_l_tomodel",          # l_nn.c: the model inside a model userdata
    "ol_l_tooptim",          # l_optim.c: the optimizer inside its userdata
    "ol_l_optim_schedules",  # l_optim.c: apply an optimizer's schedules at step t
    "ol_l_toloader",         # l_data.c: the loader inside its userdata
    "ol_l_todataset",        # l_data.c: the dataset inside its userdata
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
DEFINITION = re.compile(r"^(?!static)[A-Za-z_][\w \*]*?\b((?:ol_l|ol_open)_\w+)\(", re.M)
CALL = re.compile(r"\b((?:ol_l|ol_open)_\w+)\s*\(")


def area(name):
    """l_tensor_view.c -> tensor; l_common.h -> common."""
    stem = os.path.splitext(name)[0]
    return stem[2:].split("_")[0]


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def check_bindings(root, errors):
    lua = os.path.join(root, "lua")
    engine = os.path.join(root, "engine")
    files = sorted(f for f in os.listdir(lua) if f.startswith("l_") and f.endswith((".c", ".h")))
    if not files:
        errors.append("no binding files under %s" % lua)
    texts = {}
    for f in files:
        with open(os.path.join(lua, f), encoding="utf-8") as fh:
            texts[f] = strip_comments(fh.read())
    for f in files:
        kit = f in KIT_FILES or f in KIT_HEADERS
        own = {"l_%s.h" % area(f), "l_%s_priv.h" % area(f)}
        for inc in INCLUDE.findall(texts[f]):
            if inc in KIT_HEADERS or os.path.isfile(os.path.join(engine, inc)):
                continue
            if inc in GENERATED and not kit:
                continue
            if inc in own and not kit:
                continue
            errors.append("lua/%s includes \"%s\": a binding file may include only l_common.h, "
                          "l_args.h, engine headers and its own area's headers" % (f, inc))
    # Functions defined in one binding file and called from another area's.
    defined = {}
    for f in files:
        if f.endswith(".c"):
            for name in DEFINITION.findall(texts[f]):
                defined.setdefault(name, f)
    for f in files:
        if not f.endswith(".c") or f in KIT_FILES:
            continue
        for name in sorted(set(CALL.findall(texts[f]))):
            home = defined.get(name)
            if not home or home == f or home in KIT_FILES or area(home) == area(f):
                continue
            if name in ACCESSORS:
                continue
            if name.startswith("ol_open_") and f == "l_optlua.c":
                continue  # the library's entry point opens every area
            if name.startswith("ol_open_") and (f, home) == ("l_nn.c", "l_init.c"):
                continue  # ol.nn opens its ol.init part
            errors.append("lua/%s calls %s, defined in lua/%s: another binding's function "
                          "(move it to the kit or where it is used)" % (f, name, home))
    for f in KIT_FILES:
        if f in texts:
            for name in sorted(set(CALL.findall(texts[f]))):
                home = defined.get(name)
                if home and home not in KIT_FILES and name not in ACCESSORS:
                    errors.append("kit file lua/%s calls %s of lua/%s" % (f, name, home))


def find_cycle(graph):
    """One cycle of graph (node -> set of nodes) as a list, or None."""
    state = {}
    stack = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                c = visit(m)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            c = visit(n)
            if c:
                return c
    return None


def check_engine(root, errors):
    engine = os.path.join(root, "engine")
    headers = {}
    folders = {}
    for d, _, names in os.walk(engine):
        for name in names:
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(d, name)
            rel = os.path.relpath(path, engine)
            with open(path, encoding="utf-8") as fh:
                text = strip_comments(fh.read())
            deps = set()
            for inc in INCLUDE.findall(text):
                for base in (d, engine):
                    p = os.path.normpath(os.path.join(base, inc))
                    if os.path.isfile(p) and p.startswith(engine + os.sep):
                        deps.add(os.path.relpath(p, engine))
                        break
            if name.endswith(".h"):
                headers[rel] = {x for x in deps if x.endswith(".h")}
            here = os.path.dirname(rel) or "core"
            for x in deps:
                there = os.path.dirname(x) or "core"
                if there != here:
                    folders.setdefault(here, set()).add(there)
    c = find_cycle(headers)
    if c:
        errors.append("engine include cycle: " + " -> ".join(c))
    c = find_cycle(folders)
    if c:
        errors.append("engine folder cycle: " + " -> ".join(c))


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    root = os.path.abspath(sys.argv[1])
    errors = []
    check_bindings(root, errors)
    check_engine(root, errors)
    for e in errors:
        print("FAIL " + e)
    if errors:
        return 1
    print("ok: lua/ bindings depend only on the kit and the engine; engine/ has no include cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
