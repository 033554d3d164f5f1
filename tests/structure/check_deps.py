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

Engine (engine/FOLDER/*.c, *.h): every folder is a layer and a library of
CMakeLists.txt (ol_engine_library); a file includes headers of its own
folder and of the folders its library links, named from engine/
("core/tensor.h", in lua/, tests/ and bench/ too); no include cycle
between headers, no cycle between folders. Given a build directory too,
on its object files: no two engine source files call each other, even
through others, and no library uses a symbol of one it does not link.

Usage: check_deps.py SOURCE_DIR [BUILD_DIR]. Exits 1 naming every violation."""
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
    "ol_l_toaverage",        # l_average.c: the weight average inside its userdata
    "ol_l_tocheckpoint",     # l_checkpoint.c: the checkpoint ol.load read for a ck table
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


LIBRARY = re.compile(r"^ol_engine_library\((\w+)\s+(\w+)((?:\s+[\w:${}]+)*)\)", re.M)


def engine_layers(root, errors):
    """folder -> set of engine folders it may use, read from the
    ol_engine_library() lines of CMakeLists.txt (the one home of that fact)."""
    with open(os.path.join(root, "CMakeLists.txt"), encoding="utf-8") as fh:
        text = fh.read()
    folder_of = {}
    links = {}
    for lib, folder, deps in LIBRARY.findall(text):
        folder_of[lib] = folder
        links[folder] = deps.split()
    if not folder_of:
        errors.append("CMakeLists.txt declares no ol_engine_library()")
    layers = {}
    for folder, deps in links.items():
        layers[folder] = {folder_of[d] for d in deps if d in folder_of}
    # what a folder may use is what it links, directly or through another
    changed = True
    while changed:
        changed = False
        for folder, uses in layers.items():
            more = set().union(*(layers.get(u, set()) for u in uses)) - uses
            if more:
                uses |= more
                changed = True
    return layers


def check_engine(root, errors):
    """Include style, layering and include cycles of engine/; the include
    style of every C file that names an engine header."""
    engine = os.path.join(root, "engine")
    layers = engine_layers(root, errors)
    for folder in sorted(os.listdir(engine)):
        if os.path.isdir(os.path.join(engine, folder)) and folder not in layers:
            errors.append("engine/%s/ is no library of CMakeLists.txt (ol_engine_library)" % folder)
        elif os.path.isfile(os.path.join(engine, folder)):
            errors.append("engine/%s: engine files live in a layer's folder" % folder)
    headers = {}
    folders = {}
    for top in ("engine", "lua", "tests", "bench"):
        for d, _, names in os.walk(os.path.join(root, top)):
            for name in names:
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(d, name)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8") as fh:
                    text = strip_comments(fh.read())
                deps = set()
                for inc in INCLUDE.findall(text):
                    local = os.path.normpath(os.path.join(d, inc))
                    if os.path.isfile(os.path.join(engine, inc)) and "/" in inc and ".." not in inc:
                        deps.add(inc)
                    elif local.startswith(engine + os.sep) and os.path.isfile(local):
                        errors.append('%s includes "%s": engine headers are named from engine/, as "%s"'
                                      % (rel, inc, os.path.relpath(local, engine)))
                if top != "engine":
                    continue
                erel = os.path.relpath(path, engine)
                here = erel.split(os.sep)[0]
                if name.endswith(".h"):
                    headers[erel] = {x for x in deps if x.endswith(".h")}
                for x in deps:
                    there = x.split("/")[0]
                    if there != here:
                        folders.setdefault(here, set()).add(there)
                        if here in layers and there not in layers[here]:
                            errors.append('engine/%s includes "%s": %s/ does not link %s/ (CMakeLists.txt)'
                                          % (erel, x, here, there))
    c = find_cycle(headers)
    if c:
        errors.append("engine include cycle: " + " -> ".join(c))
    c = find_cycle(folders)
    if c:
        errors.append("engine folder cycle: " + " -> ".join(c))


def check_objects(root, build, errors):
    """On a build's object files: no cycle of calls between the engine's
    source files (a.c uses a symbol of b.c and b.c one of a.c), and every
    engine symbol a library's objects use is defined in that library or
    one it may use."""
    import subprocess
    defined, used, lib_of = {}, {}, {}
    for d, _, names in os.walk(os.path.join(build, "CMakeFiles")):
        m = re.search(r"CMakeFiles/(ol\w+)\.dir/engine/(\w+)$", d)
        if not m:
            continue
        for name in names:
            if not name.endswith(".c.o"):
                continue
            src = "%s/%s" % (m.group(2), name[:-2])
            lib_of[src] = m.group(2)
            out = subprocess.run(["nm", os.path.join(d, name)], capture_output=True, text=True).stdout
            used[src] = set()
            for line in out.splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[0] == "U" and parts[1].startswith("ol_"):
                    used[src].add(parts[1])
                elif len(parts) == 3 and parts[1] in "TDBR" and parts[2].startswith("ol_"):
                    defined[parts[2]] = src
    if not used:
        errors.append("no engine object files under %s" % build)
        return
    layers = engine_layers(root, errors)
    calls = {}
    for src, syms in used.items():
        for sym in syms:
            home = defined.get(sym)
            if home and home != src:
                calls.setdefault(src, set()).add(home)
                a, b = lib_of[src], lib_of[home]
                if a != b and b not in layers.get(a, set()):
                    errors.append("engine/%s uses %s of engine/%s: %s/ does not link %s/" % (src, sym, home, a, b))
    c = find_cycle(calls)
    if c:
        errors.append("engine source files call each other in a cycle: " + " -> ".join(c))


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__)
        return 2
    root = os.path.abspath(sys.argv[1])
    errors = []
    check_bindings(root, errors)
    check_engine(root, errors)
    if len(sys.argv) == 3:
        check_objects(root, os.path.abspath(sys.argv[2]), errors)
    for e in errors:
        print("FAIL " + e)
    if errors:
        return 1
    print("ok: lua/ bindings depend only on the kit and the engine; engine/'s layers, include "
          "style and absence of cycles hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
