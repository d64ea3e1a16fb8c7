#!/usr/bin/env python3
"""sigcheck — the signal-safety gate's call-graph checker (stdlib only).

Usage:
    sigcheck.py [--policy P] [--allowlist A] [--cflags "..."] [--emit-lint DIR]
                SOURCE.c...

All SOURCE files together are one program: the checker joins their call
graphs by symbol name (static functions stay private to their file).  Exit
status 0 = the signal path is clean, 1 = at least one REJECT line, 2 = the
checker could not analyse the input (compile error, bad policy).

What it builds, and why from three views of each file (see README.md):
  source graph  clang -O0 LLVM IR (every call the source makes, nothing is
                inlined away, compiler-inserted calls such as libatomic or a
                struct copy's memcpy are visible) joined with clang's AST
                (direct calls through always_inline functions, and the
                *declared type* of every indirect call, which the IR erases).
  gcc -O2       gcc's -fcallgraph-info=su,da: the call graph and frame sizes
                of the code gcc really emits (clones, inlining, calls gcc
                invents such as memcpy for a copy loop).
  clang -O2     clang's optimized IR for the calls and -fstack-usage for the
                frame sizes of the code clang really emits.
Roots are every installed signal handler (a function stored into a struct
sigaction, in code or in a static initializer, or passed to signal(); also
through a function that forwards its parameter there) and every function
annotated PROFCORE_SIGNAL_SAFE.  Every REJECT line prints the whole chain
from the root: "X called by Y called by handler (signal handler)".
"""

import argparse
import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections import deque

ANNOTATION = "profcore_signal_safe"
SIGCHECK_DEFINE = "-DPROFCORE_SIGCHECK=1"
SIGNAL_INSTALLERS = {"signal", "bsd_signal", "sysv_signal", "__sysv_signal", "sigset"}
# LLVM intrinsics that become real libc calls when lowered; every other
# llvm.* intrinsic is an instruction sequence.
INTRINSIC_LIBC = {"llvm.memcpy": "memcpy", "llvm.memmove": "memmove", "llvm.memset": "memset"}
RETURN_ADDRESS_BYTES = 8  # clang's -fstack-usage leaves out the pushed return address


class Fail(Exception):
    """The checker cannot analyse its input (not a signal-safety finding)."""


# ---------------------------------------------------------------- policy ----

class Policy:
    def __init__(self):
        self.allow = {}    # libc function -> justification
        self.hooks = {}    # declared hook typedef -> stack bytes reserved for it
        self.budgets = []  # (root glob, bytes), first match wins
        self.libc_reserve = 0
        # libc function -> roots allowed to reach it.  For handlers that end
        # the process (crash, _exit): a bounded wait is allowed there, never
        # on a sampling path (see policy.txt, "terminal").
        self.terminal = {}

    def budget_for(self, root_name):
        for glob, size in self.budgets:
            if fnmatch.fnmatchcase(root_name, glob):
                return size
        raise Fail(f"policy: no stack budget matches root {root_name}")


def policy_lines(path):
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            text = line.split("#", 1)[0].strip()
            if text:
                yield number, text


def load_policy(policy_path, allowlist_path):
    policy = Policy()
    for number, text in policy_lines(allowlist_path):
        fields = text.split(None, 1)
        if len(fields) < 2:
            raise Fail(f"{allowlist_path}:{number}: every allowlisted function needs a justification")
        policy.allow[fields[0]] = fields[1]
    for number, text in policy_lines(policy_path):
        fields = text.split()
        where = f"{policy_path}:{number}"
        if fields[0] == "hook" and len(fields) >= 3:
            policy.hooks[fields[1]] = int(fields[2])
        elif fields[0] == "stack" and len(fields) >= 3:
            policy.budgets.append((fields[1], int(fields[2])))
        elif fields[0] == "terminal" and len(fields) >= 3:
            policy.terminal[fields[1]] = set(fields[2:])
        elif fields[0] == "libc-reserve" and len(fields) >= 2:
            policy.libc_reserve = int(fields[1])
        else:
            raise Fail(f"{where}: cannot parse '{text}'")
    if not policy.budgets:
        raise Fail(f"{policy_path}: no stack budget")
    return policy


# ------------------------------------------------------------- compiling ----

def run_compiler(argv, source):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise Fail(
            f"cannot compile {source} (a build error in that file, not a signal-safety "
            f"finding):\n  $ {' '.join(shlex.quote(a) for a in argv)}\n{proc.stderr}")
    return proc.stdout


# ------------------------------------------------------------- the graph ----

class Graph:
    """A whole-program call graph.  Node keys are symbol names, or
    'file.c:name' for a static function.  Edges keep their insertion order so
    chains are deterministic."""

    def __init__(self, label):
        self.label = label
        self.defined = {}     # key -> display name
        self.edges = {}       # key -> [callee key]
        self.frame = {}       # key -> bytes (optimized graphs only)
        self.dynamic = set()  # keys with a VLA or alloca
        self.indirect = {}    # key -> [declared type or None]

    def add_edge(self, caller, callee):
        targets = self.edges.setdefault(caller, [])
        if callee not in targets:
            targets.append(callee)


def base_name(key):
    """'file.c:pc_add.constprop.0' -> 'pc_add' (gcc clones, static prefix)."""
    name = key.rsplit(":", 1)[-1]
    return name.split(".", 1)[0] if not name.startswith("llvm.") else name


class Unit:
    """What one source file contributes: its static names, annotated
    functions, handler roots and the three graphs' pieces."""

    def __init__(self, path):
        self.path = path
        self.tag = os.path.basename(path)
        self.local = set()
        self.annotated = set()
        self.handlers = {}  # name -> (arity, where installed)
        self.exported = set()  # functions with external linkage defined here
        self.arity = {}        # defined function -> number of parameters

    def key(self, name):
        return f"{self.tag}:{name}" if name in self.local else name


# ----------------------------------------------------------------- LLVM IR ----

DEFINE_RE = re.compile(r'^define\s+(.*?)@("[^"]+"|[-\w.$]+)\((.*)$')
CALL_RE = re.compile(r'\b(?:call|invoke)\b(.*)$')
CALLEE_RE = re.compile(r'(?:bitcast \([^@]*?(@[-\w.$"]+) to [^)]*\)|([@%][-\w.$"]+))\(')
ALLOCA_RE = re.compile(r'=\s*alloca\s+(?:inalloca\s+)?(.+)$')
STORE_FN_RE = re.compile(r'^\s*store\s+(.+?)\s+(@[-\w.$"]+|%[-\w.$"]+),\s+(.+?)\s+(%[-\w.$"]+)(?:,|$)')
ASSIGN_RE = re.compile(r'^\s*(%[-\w.$"]+)\s*=\s*(.*)$')


def strip_quotes(name):
    return name[1:-1] if name.startswith('"') else name


def split_top(text):
    """Split an IR operand list at top-level commas."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def ir_functions(text):
    """Yields (name, linkage prefix, params text, body lines) per definition."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = DEFINE_RE.match(lines[i])
        if not m:
            i += 1
            continue
        head, name, rest = m.group(1), strip_quotes(m.group(2)), m.group(3)
        params = rest[: rest.rfind(")")] if ")" in rest else rest
        body = []
        i += 1
        while i < len(lines) and lines[i] != "}":
            body.append(lines[i])
            i += 1
        yield name, head, params, body


def ir_annotated(text):
    for line in text.splitlines():
        if line.startswith("@llvm.global.annotations"):
            strings = dict(re.findall(r'^(@[-\w.]+) = .*?c"([^"]*)\\00"', text, re.M))
            for fn, string in re.findall(
                    r'\{[^{}]*?@("[^"]+"|[-\w.$]+)(?: to i8\*\))?,\s*i8\* getelementptr[^@]*(@[-\w.]+)', line):
                if strings.get(string) == ANNOTATION:
                    yield strip_quotes(fn)


def ir_calls(body):
    """Direct callees (intrinsics mapped to libc names) and the number of
    indirect calls in one function body."""
    direct, indirect = [], 0
    for line in body:
        m = CALL_RE.search(line)
        if not m or " asm " in m.group(1)[:40] or m.group(1).lstrip().startswith("asm"):
            continue
        c = CALLEE_RE.search(m.group(1))
        if not c:
            continue
        callee = c.group(1) or c.group(2)
        if callee.startswith("%"):
            indirect += 1
            continue
        name = strip_quotes(callee[1:])
        if name.startswith("llvm."):
            stem = ".".join(name.split(".")[:2])
            if stem in INTRINSIC_LIBC:
                direct.append(INTRINSIC_LIBC[stem])
            continue
        direct.append(name)
    return direct, indirect


def ir_dynamic_allocas(body):
    """An alloca with an explicit element count is a VLA or alloca()."""
    for line in body:
        m = ALLOCA_RE.search(line)
        if m:
            operands = split_top(m.group(1))  # type [, count] [, align N]
            if len(operands) > 1 and not operands[1].startswith("align"):
                return True
    return False


class ValueTrace:
    """Def chains of one -O0 function body, enough to see whether a store
    goes into a struct sigaction and where a stored value came from."""

    def __init__(self, params, body):
        self.defs = {}
        for line in body:
            m = ASSIGN_RE.match(line)
            if m:
                self.defs[m.group(1)] = m.group(2)
        self.params = [p.split()[-1] for p in split_top(params)]
        self.slot_value = {}  # alloca slot -> the value stored into it
        for line in body:
            m = STORE_FN_RE.match(line)
            if m:
                self.slot_value.setdefault(m.group(4), m.group(2))

    def reaches_sigaction(self, value, depth=0):
        definition = self.defs.get(value)
        if definition is None or depth > 16:
            return False
        if "%struct.sigaction" in definition:
            return True
        if not re.match(r'(?:bitcast|getelementptr|addrspacecast)\b', definition):
            return False
        # Operands are the %-tokens that are values defined here (type
        # names such as %union.anon are never in `defs`).
        return any(self.reaches_sigaction(v, depth + 1)
                   for v in re.findall(r'%[-\w.$"]+', definition) if v in self.defs)

    def param_index(self, value):
        """If `value` is (a load of the spill slot of) a parameter, its index."""
        if value in self.params:
            return self.params.index(value)
        definition = self.defs.get(value, "")
        m = re.match(r'(?:load .*?, .*?(%[-\w.$"]+)(?:,|$)|bitcast .*?(%[-\w.$"]+) to)', definition)
        if m:
            source = m.group(1) or m.group(2)
            if source in self.slot_value:
                return self.param_index(self.slot_value[source])
            return self.param_index(source)
        return None


def fn_arity(params):
    return len(split_top(params))


def find_handlers(unit, functions, globals_text, problems):
    """Handler roots of one unit from its -O0 IR.  `functions` maps name ->
    (params, body).  Installers are functions that store one of their
    parameters into a struct sigaction or pass it to signal(); their callers'
    function arguments are handlers too (iterated to a fixed point)."""
    arity = {name: fn_arity(p) for name, (p, _) in functions.items()}
    installers = {name: {1} for name in SIGNAL_INSTALLERS}  # name -> handler parameter indexes
    found = {}

    def note(handler, where):
        if handler not in found:
            found[handler] = (arity.get(handler, 1), where)

    for _ in range(8):
        changed = False
        for name, (params, body) in functions.items():
            trace = ValueTrace(params, body)
            for line in body:
                m = STORE_FN_RE.match(line)
                if m and "(" in m.group(1) and trace.reaches_sigaction(m.group(4)):
                    value = m.group(2)
                    if value.startswith("@"):
                        note(strip_quotes(value[1:]), f"stored into a struct sigaction in {name}")
                    else:
                        index = trace.param_index(value)
                        if index is None:
                            problems.append(("handler-unknown", name,
                                             f"{name} stores a handler that is not a known function into a struct sigaction"))
                        elif index not in installers.setdefault(name, set()):
                            installers[name].add(index)
                            changed = True
                c = CALL_RE.search(line)
                if not c:
                    continue
                callee = CALLEE_RE.search(c.group(1))
                if not callee or not callee.group(2) or not callee.group(2).startswith("@"):
                    continue
                target = strip_quotes(callee.group(2)[1:])
                if target not in installers:
                    continue
                args = split_top(c.group(1)[callee.end():c.group(1).rfind(")")])
                for index in sorted(installers[target]):
                    if index >= len(args):
                        continue
                    value = args[index].split()[-1]
                    fn = re.search(r'@("[^"]+"|[-\w.$]+)', args[index])
                    if fn and "(" in args[index]:
                        note(strip_quotes(fn.group(1)), f"passed to {target} in {name}")
                    elif value.startswith("%"):
                        pindex = trace.param_index(value)
                        if pindex is None:
                            problems.append(("handler-unknown", name,
                                             f"{name} passes a handler that is not a known function to {target}"))
                        elif pindex not in installers.setdefault(name, set()):
                            installers[name].add(pindex)
                            changed = True
        if not changed:
            break
    # Handlers in static initializers of a struct sigaction.
    for line in globals_text:
        if "%struct.sigaction" in line and not line.startswith("declare"):
            for fn in re.findall(r'@("[^"]+"|[-\w.$]+)', line.split("=", 1)[-1]):
                if strip_quotes(fn) in functions:
                    note(strip_quotes(fn), "in a static struct sigaction initializer")
    for handler, info in found.items():
        unit.handlers[handler] = info


# ---------------------------------------------------------------- clang AST ----

def strip_callee(node):
    """Follows the callee expression through casts, parens and '*' and
    returns (direct function name or None, [types seen])."""
    types = []
    while True:
        if "type" in node:
            types.append(node["type"].get("qualType", ""))
        kind = node.get("kind")
        if kind == "ImplicitCastExpr" and node.get("castKind") == "BuiltinFnToFnPtr":
            return "__builtin__", types
        if kind == "DeclRefExpr":
            ref = node.get("referencedDecl", {})
            if ref.get("kind") == "FunctionDecl":
                return ref.get("name"), types
            return None, types
        if kind in ("ImplicitCastExpr", "ParenExpr") or (
                kind == "UnaryOperator" and node.get("opcode") == "*"):
            inner = node.get("inner") or []
            if not inner:
                return None, types
            node = inner[0]
            continue
        return None, types


def hook_type_of(types, hooks):
    """The declared hook typedef an indirect callee expression has, if any:
    the typedef may name the pointer type or the function type."""
    for qual in types:
        name = re.sub(r'\b(const|volatile|restrict)\b', "", qual).replace("*", "").strip()
        if name in hooks:
            return name
    return None


def ast_walk(unit, ast, graph, policy):
    def visit(node, current):
        kind = node.get("kind")
        if kind == "FunctionDecl":
            if node.get("storageClass") == "static":
                unit.local.add(node.get("name"))
            if any(c.get("kind") == "CompoundStmt" for c in node.get("inner", [])):
                current = node.get("name")
        if kind == "CallExpr" and current is not None and node.get("inner"):
            direct, types = strip_callee(node["inner"][0])
            if direct == "__builtin__":
                pass
            elif direct is not None:
                pending_direct.append((current, direct))
            else:
                what = hook_type_of(types, policy.hooks)
                shown = what or next((t for t in types if t), "function pointer")
                pending_indirect.append((current, what, shown))
        for child in node.get("inner", []):
            visit(child, current)

    pending_direct, pending_indirect = [], []
    sys.setrecursionlimit(100000)
    visit(ast, None)
    for caller, callee in pending_direct:
        graph.add_edge(unit.key(caller), unit.key(callee))
    for caller, hook, shown in pending_indirect:
        graph.indirect.setdefault(unit.key(caller), []).append((hook, shown))


# ------------------------------------------------------- per-file analysis ----

def find_unit_handlers(path, args):
    """Only what --lint-only needs: the handler roots, from the -O0 IR."""
    unit = Unit(path)
    ir0 = run_compiler([args.clang, *shlex.split(args.cflags), SIGCHECK_DEFINE, "-O0", "-g0", "-S",
                        "-emit-llvm", "-o", "-", "-Wno-everything", path], path)
    functions0 = {}
    for name, head, params, body in ir_functions(ir0):
        functions0[name] = (params, body)
        unit.arity[name] = fn_arity(params)
        if not re.search(r'\b(internal|private)\b', head):
            unit.exported.add(name)
    unit.problems = []
    find_handlers(unit, functions0, [l for l in ir0.splitlines() if l.startswith("@")], unit.problems)
    return unit


def analyse_unit(path, args, policy, graphs, tmp):
    unit = Unit(path)
    cflags = shlex.split(args.cflags)
    stem = os.path.join(tmp, f"{len(os.listdir(tmp))}-{unit.tag}")
    source_graph, gcc_graph, clang_graph = graphs

    # The annotation is an IR attribute only under PROFCORE_SIGCHECK (see
    # core/profcore.h): the source graph sees it; the -O2 graphs and frame
    # sizes are of the code an ordinary build emits, without it.
    ast_text = run_compiler([args.clang, *cflags, SIGCHECK_DEFINE, "-fsyntax-only", "-Xclang",
                             "-ast-dump=json", "-Wno-everything", path], path)
    ir0 = run_compiler([args.clang, *cflags, SIGCHECK_DEFINE, "-O0", "-g0", "-S", "-emit-llvm",
                        "-o", "-", "-Wno-everything", path], path)
    ir2 = run_compiler([args.clang, *cflags, args.opt, "-g0", "-S", "-emit-llvm", "-o", "-",
                        "-Wno-everything", path], path)
    run_compiler([args.clang, *cflags, args.opt, "-g0", "-c", "-fstack-usage", "-o", stem + ".clang.o",
                  "-Wno-everything", path], path)
    run_compiler([args.gcc, *cflags, args.opt, "-g0", "-c", "-fcallgraph-info=su,da", "-w",
                  "-o", stem + ".gcc.o", path], path)

    functions0 = {}
    for name, head, params, body in ir_functions(ir0):
        functions0[name] = (params, body)
        unit.arity[name] = fn_arity(params)
        if re.search(r'\b(internal|private)\b', head):
            unit.local.add(name)
        else:
            unit.exported.add(name)
    ast_walk(unit, json.loads(ast_text), source_graph, policy)
    unit.annotated.update(ir_annotated(ir0))
    unit.problems = []
    globals_text = [l for l in ir0.splitlines() if l.startswith("@")]
    find_handlers(unit, functions0, globals_text, unit.problems)

    for name, (params, body) in functions0.items():
        key = unit.key(name)
        source_graph.defined[key] = name
        direct, indirect_count = ir_calls(body)
        for callee in direct:
            source_graph.add_edge(key, unit.key(callee))
        if ir_dynamic_allocas(body):
            source_graph.dynamic.add(key)
        ast_indirect = len(source_graph.indirect.get(key, []))
        if indirect_count > ast_indirect:
            # A call through a pointer the source does not show (cannot
            # happen in C today; kept so a surprise is a rejection).
            source_graph.indirect.setdefault(key, []).extend([(None, "compiler-generated pointer")] * (indirect_count - ast_indirect))

    # clang -O2: calls from the optimized IR, frames from -fstack-usage.
    for name, head, params, body in ir_functions(ir2):
        key = unit.key(name)
        clang_graph.defined[key] = name
        direct, indirect_count = ir_calls(body)
        for callee in direct:
            clang_graph.add_edge(key, unit.key(callee))
        if indirect_count:
            clang_graph.indirect[key] = [(None, "indirect")] * indirect_count
    with open(stem + ".clang.su", encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 3:
                continue
            name = fields[0].rsplit(":", 1)[-1]
            key = unit.key(name)
            clang_graph.frame[key] = int(fields[1]) + RETURN_ADDRESS_BYTES
            if "dynamic" in fields[2]:
                clang_graph.dynamic.add(key)

    # gcc -O2: -fcallgraph-info (VCG text).
    read_gcc_callgraph(unit, stem + ".gcc.ci", gcc_graph)
    return unit


NODE_RE = re.compile(r'^node: \{ title: "([^"]+)" label: "([^"]*)"')
EDGE_RE = re.compile(r'^edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')


def read_gcc_callgraph(unit, path, graph):
    def key(title):
        if ":" in title:  # gcc titles static functions 'input-file:name'
            name = title.rsplit(":", 1)[-1]
            return f"{unit.tag}:{name}"
        return unit.key(title)

    with open(path, encoding="utf-8") as f:
        for line in f:
            m = NODE_RE.match(line)
            if m:
                title, label = m.groups()
                parts = label.split("\\n")
                sizes = [p for p in parts if " bytes (" in p]
                if sizes:
                    k = key(title)
                    graph.defined[k] = parts[0]
                    graph.frame[k] = int(sizes[0].split()[0])
                    # "(dynamic,bounded)" is a frame whose size varies up to
                    # the bound reported; only an unbounded one is rejected.
                    qualifier = sizes[0].split("(", 1)[1].rstrip(")")
                    if "dynamic" in qualifier and "bounded" not in qualifier:
                        graph.dynamic.add(k)
                    if len(parts) > 3 and not parts[3].startswith("0 dynamic"):
                        graph.dynamic.add(k)
                continue
            m = EDGE_RE.match(line)
            if m:
                source, target = m.groups()
                if target == "__indirect_call":
                    graph.indirect.setdefault(key(source), []).append((None, "indirect"))
                else:
                    graph.add_edge(key(source), key(target))


# --------------------------------------------------------------- the checks ----

class Report:
    def __init__(self):
        self.lines = []
        self.seen = set()

    def reject(self, kind, dedupe, chain, detail):
        if dedupe in self.seen:
            return
        self.seen.add(dedupe)
        self.lines.append((kind, chain, detail))


def chain_text(node_label, parents, root_info, start, graph_names):
    names = [node_label]
    at = start
    while at is not None:
        names.append(graph_names(at))
        at = parents.get(at)
    return " called by ".join(names) + f" ({root_info})"


class Checker:
    def __init__(self, units, graphs, policy):
        self.units = units
        self.source, self.gcc, self.clang = graphs
        self.policy = policy
        self.report = Report()
        self.annotated = set()
        self.roots = []  # (key, description), handlers first
        for unit in units:
            self.annotated.update(unit.key(n) for n in unit.annotated)
        seen = set()
        for unit in units:
            for name, (arity, where) in unit.handlers.items():
                k = unit.key(name)
                if k not in seen:
                    seen.add(k)
                    self.roots.append((k, "signal handler"))
        for unit in units:
            for name in sorted(unit.annotated):
                k = unit.key(name)
                if k not in seen:
                    seen.add(k)
                    self.roots.append((k, "annotated PROFCORE_SIGNAL_SAFE"))

    def is_annotated(self, key):
        if key in self.annotated:
            return True
        # An optimized clone (pc_add.part.0, profcore_add.constprop.0) carries
        # its original's mark, whether the original is static or not.
        prefix = key.rsplit(":", 1)[0] + ":" if ":" in key else ""
        return (prefix + base_name(key)) in self.annotated or base_name(key) in self.annotated

    def reachable(self, graph):
        """BFS over every root, handlers first; parents give the chain."""
        parents, root_of, order = {}, {}, []
        for root, info in self.roots:
            if root not in graph.defined and root not in graph.edges:
                continue
            if root in root_of:
                continue
            parents[root] = None
            root_of[root] = info
            queue = deque([root])
            order.append(root)
            while queue:
                at = queue.popleft()
                for callee in graph.edges.get(at, []):
                    if callee not in root_of:
                        root_of[callee] = info
                        parents[callee] = at
                        order.append(callee)
                        if callee in graph.defined:
                            queue.append(callee)
        return order, parents, root_of

    def reaches(self, graph, start, target):
        """True if `target` is reachable from `start` (start included)."""
        seen, todo = set(), [start]
        while todo:
            at = todo.pop()
            if at == target:
                return True
            if at in seen:
                continue
            seen.add(at)
            todo.extend(graph.edges.get(at, []))
        return False

    def display(self, key):
        return base_name(key)

    def check_graph(self, graph, is_source):
        order, parents, root_of = self.reachable(graph)
        tag = "" if is_source else f" [{graph.label}]"
        for key in order:
            name = base_name(key)
            up = parents[key]
            chain = chain_text(name, parents, root_of[key], up, self.display)
            if key in graph.defined:
                if not self.is_annotated(key):
                    self.report.reject("unannotated", ("unannotated", name),
                                       chain, f"{name} is defined here but not marked PROFCORE_SIGNAL_SAFE" + tag)
                if key in graph.dynamic and (is_source or not self.source_dynamic_below(key)):
                    self.report.reject("dynamic-stack", ("dynamic-stack", name), chain,
                                       f"{name} has a VLA or calls alloca: its stack use has no bound" + tag)
                for hook, shown in graph.indirect.get(key, []):
                    if is_source and hook is None:
                        label = f"(*{shown})"
                        self.report.reject(
                            "indirect-call", ("indirect-call", name, shown),
                            chain_text(label, parents, root_of[key], key, self.display),
                            f"only calls through a declared hook type may run in a handler "
                            f"({', '.join(sorted(self.policy.hooks)) or 'none declared'})")
            elif name.startswith("__atomic_") or name.startswith("__sync_"):
                # __atomic_load (clang) and __atomic_load_16 (gcc) are one finding.
                self.report.reject("libatomic", ("libatomic", re.sub(r"_\d+$", "", name)), chain,
                                   "a libatomic call may take a lock: the atomic is not lock-free here" + tag)
            elif name in self.policy.terminal and name not in self.policy.allow:
                allowed = self.policy.terminal[name]
                for root_key, _info in self.roots:
                    root = base_name(root_key)
                    if root not in allowed and self.reaches(graph, root_key, key):
                        self.report.reject(
                            "not-allowed", ("not-allowed", name, root), f"{name} reached from {root}",
                            f"{name} is allowed only under the terminal handlers "
                            f"{', '.join(sorted(allowed))}, not under {root}" + tag)
            elif name not in self.policy.allow:
                self.report.reject("not-allowed", ("not-allowed", name), chain,
                                   f"{name} is neither annotated nor on the async-signal-safe allowlist" + tag)
        self.check_recursion(graph, order, parents, root_of)

    def source_dynamic_below(self, key):
        """True if the source graph already rejects a VLA/alloca in `key` or
        in a function it calls (an optimized build inlines it into `key`)."""
        seen, todo = set(), [key]
        while todo:
            at = todo.pop()
            if at in seen:
                continue
            seen.add(at)
            if at in self.source.dynamic:
                return True
            todo.extend(self.source.edges.get(at, []))
        return False

    def check_recursion(self, graph, order, parents, root_of):
        """A back edge in a DFS from each root is recursion; the chain is the
        cycle followed by the path from the root."""
        state = {}
        for root, info in self.roots:
            if root not in graph.defined or root in state:
                continue
            stack = [(root, iter(graph.edges.get(root, [])))]
            path = [root]
            state[root] = 1
            while stack:
                at, callees = stack[-1]
                nxt = next(callees, None)
                if nxt is None:
                    state[at] = 2
                    stack.pop()
                    path.pop()
                    continue
                if nxt not in graph.defined:
                    continue
                if state.get(nxt) == 1:
                    names = [base_name(nxt)] + [base_name(k) for k in reversed(path)]
                    chain = " called by ".join(names) + f" ({info})"
                    self.report.reject("recursion", ("recursion", base_name(nxt)), chain,
                                       "recursion has no stack bound" +
                                       ("" if graph is self.source else f" [{graph.label}]"))
                elif nxt not in state:
                    state[nxt] = 1
                    path.append(nxt)
                    stack.append((nxt, iter(graph.edges.get(nxt, []))))

    def deepest(self, graph):
        """Worst-case stack per function on an acyclic graph (cycles are
        rejected separately and cut here): frame + the deepest callee."""
        memo, best_child = {}, {}
        hook_reserve = max(self.policy.hooks.values(), default=0)

        def depth(key, active):
            if key in memo:
                return memo[key]
            if key not in graph.defined:
                return self.policy.libc_reserve
            active.add(key)
            worst, worst_child = 0, None
            if graph.indirect.get(key):
                worst, worst_child = hook_reserve, "<hook>"
            for callee in graph.edges.get(key, []):
                if callee in active:
                    continue
                d = depth(callee, active)
                if d > worst:
                    worst, worst_child = d, callee
            active.discard(key)
            memo[key] = graph.frame.get(key, 0) + worst
            best_child[key] = worst_child
            return memo[key]

        return depth, best_child

    def check_stack(self):
        results = {}
        self.stack_summary = {}  # root -> ["gcc -O2 N", ...] for handlers and exported roots
        for graph in (self.gcc, self.clang):
            depth, best_child = self.deepest(graph)
            for root, info in self.roots:
                if root not in graph.defined:
                    continue  # inlined everywhere: its frame is in its callers'
                total = depth(root, set())
                budget = self.policy.budget_for(base_name(root))
                if info == "signal handler" or ":" not in root:
                    self.stack_summary.setdefault(root, [budget]).append(f"{graph.label} {total}")
                if total <= budget:
                    continue
                path, at = [], root
                while at is not None and at != "<hook>":
                    path.append(at)
                    at = best_child.get(at)
                frames = [f"{base_name(k)} {graph.frame.get(k, self.policy.libc_reserve)}" for k in path]
                results.setdefault(root, (info, path, []))[2].append(
                    f"{graph.label}: {total} > {budget} bytes via " + " -> ".join(frames))
        on_reported_path = set()
        for root, (info, path, details) in results.items():
            # A root that lies on a path already reported (an annotated
            # helper under the handler) is the same finding: report once.
            if root in on_reported_path:
                continue
            on_reported_path.update(path)
            chain = " called by ".join(base_name(k) for k in reversed(path)) + f" ({info})"
            self.report.reject("stack-budget", ("stack-budget", root), chain, "; ".join(details))

    def check_problems(self):
        for unit in self.units:
            for kind, where, text in unit.problems:
                self.report.reject(kind, (kind, where), f"{where} ({unit.tag})", text)

    def run(self):
        self.check_problems()
        self.check_graph(self.source, True)
        self.check_graph(self.gcc, False)
        self.check_graph(self.clang, False)
        self.check_stack()
        return self.report


# ------------------------------------------------------------- lint units ----

def emit_lint_units(units, directory):
    """clang-tidy's bugprone-signal-handler and gcc's analyzer only follow
    handlers passed to signal().  For every file with handler roots, write a
    translation unit that includes it and registers a wrapper per handler
    with signal(); the wrapper calls the handler with valid pointers."""
    os.makedirs(directory, exist_ok=True)
    written = []
    # A handler is linted in the file that defines it (it may be installed
    # from another file of the program).
    defining = {}
    for unit in units:
        for name in unit.handlers:
            owner = unit if name in unit.arity else next((u for u in units if name in u.exported), None)
            if owner is not None:
                defining.setdefault(owner.path, {})[name] = owner.arity[name]
    for unit in units:
        handlers = defining.get(unit.path)
        if not handlers:
            continue
        out = os.path.join(directory, "lint-" + unit.tag)
        with open(out, "w", encoding="utf-8") as f:
            f.write("/* Generated by annotations/sigcheck.py --emit-lint: lint-only. */\n")
            f.write(f'#include "{os.path.abspath(unit.path)}"\n#include <signal.h>\n\n')
            f.write("static siginfo_t profcore_lint_info;\n")
            f.write("static _Alignas(64) unsigned char profcore_lint_context[4096];\n")
            registers = []
            for i, (name, arity) in enumerate(sorted(handlers.items())):
                call = (f"{name}(sig)" if arity == 1 else
                        f"{name}(sig, &profcore_lint_info, profcore_lint_context)")
                f.write(f"static void profcore_lint_root_{i}(int sig) {{ {call}; }}\n")
                registers.append(f"    (void)signal(SIGPROF, profcore_lint_root_{i});\n")
            f.write("void profcore_lint_register(void);\nvoid profcore_lint_register(void) {\n")
            f.write("".join(registers))
            f.write("}\n")
        written.append(out)
    # The lint tools see one unit at a time: a call into another file of the
    # same program looks unverifiable to them.  These names are checked by
    # sigcheck's whole-program graph instead; the gate accepts them.
    with open(os.path.join(directory, "program-functions.txt"), "w", encoding="utf-8") as f:
        f.write("".join(f"{n}\n" for n in sorted(set().union(*(u.exported for u in units)))))
    return written


# -------------------------------------------------------------------- main ----

def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--policy", default=os.path.join(here, "policy.txt"))
    ap.add_argument("--allowlist", default=os.path.join(here, "allowlist.txt"))
    ap.add_argument("--cflags", default="-std=c11 -Icore")
    ap.add_argument("--clang", default="clang")
    ap.add_argument("--gcc", default="gcc")
    ap.add_argument("--opt", default="-O2", help="the optimization level of the shipped build")
    ap.add_argument("--emit-lint", metavar="DIR", help="write signal()-registering lint units here")
    ap.add_argument("--lint-only", action="store_true",
                    help="with --emit-lint: find the handlers and write the lint units, check nothing")
    ap.add_argument("--quiet", action="store_true", help="print only REJECT lines and the verdict")
    ap.add_argument("sources", nargs="+")
    args = ap.parse_args(argv)
    if args.lint_only:
        try:
            units = [find_unit_handlers(p, args) for p in args.sources]
        except Fail as e:
            print(f"sigcheck: error: {e}", file=sys.stderr)
            return 2
        for path in emit_lint_units(units, args.emit_lint or "."):
            print(path)
        return 0
    try:
        policy = load_policy(args.policy, args.allowlist)
        graphs = (Graph("source"), Graph(f"gcc {args.opt}"), Graph(f"clang {args.opt}"))
        with tempfile.TemporaryDirectory(prefix="sigcheck-") as tmp:
            units = [analyse_unit(p, args, policy, graphs, tmp) for p in args.sources]
        checker = Checker(units, graphs, policy)
        report = checker.run()
    except Fail as e:
        print(f"sigcheck: error: {e}", file=sys.stderr)
        return 2
    if args.emit_lint:
        for path in emit_lint_units(units, args.emit_lint):
            print(f"sigcheck: lint unit {path}")
    for kind, chain, detail in report.lines:
        print(f"REJECT {kind}: {chain}")
        if not args.quiet:
            print(f"    {detail}")
    if not args.quiet:
        for root, (budget, *sizes) in checker.stack_summary.items():
            print(f"stack: {base_name(root)}: {', '.join(sizes)} bytes (budget {budget})")
    handlers = [r for r, i in checker.roots if i == "signal handler"]
    print(f"sigcheck: {len(args.sources)} file(s), {len(handlers)} handler(s) "
          f"[{', '.join(base_name(h) for h in handlers)}], {len(checker.roots) - len(handlers)} other "
          f"annotated root(s): {len(report.lines)} rejection(s)")
    return 1 if report.lines else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
