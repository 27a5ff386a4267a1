#!/usr/bin/env python3
"""Checks the host's module tree: no dependency cycles between the top-level
modules of host/src (the stages of the request path and their foundations),
and lists files over 500 lines of non-test code.

A module depends on another when its non-test code names it through
`crate::NAME` (or `use crate::{NAME, ...}`); comments and doc links do not count. A submodule counts as its
top-level module. Exit status 1 when there is a cycle.

    scripts/check-modules.py [host/src] [-v]
"""

import re
import sys
from pathlib import Path

MAX_LINES = 500


def top_level(root: Path, f: Path) -> str | None:
    parts = f.relative_to(root).with_suffix("").parts
    if parts[0] in ("lib", "main"):
        return None
    return parts[0]


def non_test(src: str) -> str:
    # Unit tests sit at the end of a file, or in a `tests.rs` file.
    return re.split(r"#\[cfg\(test\)\]\s*mod tests\b", src)[0]


def deps(root: Path) -> tuple[dict[str, set[str]], dict[Path, int]]:
    modules = {p.stem for p in root.glob("*.rs")} - {"lib", "main"}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    sizes: dict[Path, int] = {}
    for f in sorted(root.rglob("*.rs")):
        me = top_level(root, f)
        if me is None or f.name == "tests.rs" or f.name.endswith("_tests.rs"):
            continue
        code = non_test(f.read_text())
        sizes[f] = sum(1 for line in code.splitlines() if line.strip())
        # Doc links and comments name modules without depending on them.
        code = re.sub(r"//[^\n]*", "", code)
        named = set(re.findall(r"\bcrate::([a-z_][a-z0-9_]*)", code))
        for group in re.findall(r"\buse crate::\{([^}]*)\}", code):
            named |= set(re.findall(r"(?:^|,)\s*([a-z_][a-z0-9_]*)", group))
        edges[me] |= {m for m in named if m in modules and m != me}
    return edges, sizes


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                out.append(sorted(scc))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    root = Path(args[0] if args else "host/src")
    edges, sizes = deps(root)
    if "-v" in sys.argv:
        for m in sorted(edges):
            print(f"{m} -> {', '.join(sorted(edges[m])) or '(nothing)'}")
    for f, n in sorted(sizes.items()):
        if n > MAX_LINES:
            print(f"note: {f} has {n} lines of non-test code (over {MAX_LINES})")
    found = cycles(edges)
    for c in found:
        print("module cycle: " + " <-> ".join(c))
    print(f"check-modules: {len(edges)} top-level modules, {len(found)} cycles")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
