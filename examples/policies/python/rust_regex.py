"""Rust `regex` syntax, compiled to Python's `re`.

The Rust task-router compiles its patterns with the `regex` crate (built with
`unicode-perl` and `unicode-case` only). To decide exactly as it does, this
module parses a pattern with the rules of `regex-syntax` 0.8 (the same
errors for look-around, back-references, `\\p{..}` classes, bad escapes,
unclosed groups, …) and writes an equivalent `re` pattern:

* flags `i m s x U R u` as Rust scopes them (`(?i)` holds to the end of the
  enclosing group, `(?i:…)` inside it);
* `.` never matches `\\n` (nor `\\r` with `R`), `$` only at the very end
  unless `m`, `^`/`$` in `m` mode only at `\\n` (and `\\r` with `R`);
* `\\d` is Unicode `Nd`, `\\s` is Unicode `White_Space`, `\\w` and `\\b` use
  Rust's word characters (Alphabetic, marks, `Nd`, `Pc`, Join_Control) —
  for ASCII text Python's own `\\w` agrees, so that faster pattern is used
  then, and the exact one only for text with non-ASCII characters;
* classes with nested classes, `[:alpha:]` ASCII classes, and the set
  operations `&&`, `--`, `~~` (written with look-ahead).

Captures are irrelevant to a yes/no match, so every group becomes `(?:…)`.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["RegexError", "compile_rust"]


class RegexError(ValueError):
    """The pattern is not valid Rust `regex` syntax (or uses a feature the
    Rust policy is built without)."""


# Rust's `\s`: the Unicode White_Space property.
_SPACE = "\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
_WHITE_SPACE = frozenset(
    map(
        chr, [9, 10, 11, 12, 13, 32, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
    )
)

# Code points of Other_Alphabetic that are not marks (circled and squared
# letters); every other Alphabetic code point is a letter or Nl.
_OTHER_ALPHABETIC = ((0x24B6, 0x24E9), (0x1F130, 0x1F149), (0x1F150, 0x1F169), (0x1F170, 0x1F189))


def _word_body() -> str:
    """Rust's Unicode `\\w` as the body of a `re` class (computed once, at
    import; componentize-py snapshots it into the component)."""
    ranges: list[list[int]] = []
    for cp in range(0x110000):
        cat = unicodedata.category(chr(cp))
        if cat[0] in "LM" or cat in ("Nd", "Nl", "Pc") or cp in (0x200C, 0x200D):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
    for lo, hi in _OTHER_ALPHABETIC:
        ranges.append([lo, hi])
    return "".join(_esc(lo) if lo == hi else f"{_esc(lo)}-{_esc(hi)}" for lo, hi in ranges)


def _esc(cp: int) -> str:
    c = chr(cp)
    if c.isascii() and (c.isalnum() or c == "_"):
        return c
    if cp < 0x100:
        return f"\\x{cp:02x}"
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


# Computed at import: componentize-py runs the imports at build time and
# snapshots the result, so a policy call never pays for it.
_WORD_EXACT = ""


def _word_exact() -> str:
    return _WORD_EXACT


_ASCII_CLASSES = {
    "alnum": [(48, 57), (65, 90), (97, 122)],
    "alpha": [(65, 90), (97, 122)],
    "ascii": [(0, 127)],
    "blank": [(9, 9), (32, 32)],
    "cntrl": [(0, 31), (127, 127)],
    "digit": [(48, 57)],
    "graph": [(33, 126)],
    "lower": [(97, 122)],
    "print": [(32, 126)],
    "punct": [(33, 47), (58, 64), (91, 96), (123, 126)],
    "space": [(9, 13), (32, 32)],
    "upper": [(65, 90)],
    "word": [(48, 57), (65, 90), (95, 95), (97, 122)],
    "xdigit": [(48, 57), (65, 70), (97, 102)],
}
_PERL_ASCII = {"d": "digit", "s": "space", "w": "word"}
_META = set("\\.+*?()|[]{}^$#&-~")


def _escapeable(c: str) -> bool:
    if c in _META:
        return True
    if not c.isascii():
        return False
    return not (c.isalnum() or c in "<>")


class _Flags:
    __slots__ = ("R", "U", "i", "m", "s", "u", "x")

    def __init__(self) -> None:
        self.i = self.m = self.s = self.U = self.x = self.R = False
        self.u = True

    def copy(self) -> _Flags:
        f = _Flags()
        for k in self.__slots__:
            setattr(f, k, getattr(self, k))
        return f


class _Parser:
    """A port of regex-syntax's parser and the parts of its translator that
    can fail, emitting `re` syntax as it goes. `exact` chooses Rust's
    Unicode word characters over Python's `\\w`."""

    def __init__(self, pattern: str, exact: bool):
        self.p = pattern
        self.n = len(pattern)
        self.pos = 0
        self.exact = exact
        self.flags = _Flags()
        self.names: set[str] = set()
        self.uses_word = False

    # -- helpers -------------------------------------------------------
    def err(self, msg: str) -> RegexError:
        return RegexError(msg)

    def eof(self) -> bool:
        return self.pos >= self.n

    def char(self) -> str:
        return self.p[self.pos]

    def peek(self) -> str | None:
        return self.p[self.pos + 1] if self.pos + 1 < self.n else None

    def bump(self) -> bool:
        if self.pos < self.n:
            self.pos += 1
        return self.pos < self.n

    def bump_if(self, s: str) -> bool:
        if self.p.startswith(s, self.pos):
            self.pos += len(s)
            return True
        return False

    def bump_space(self) -> None:
        if not self.flags.x:
            return
        while not self.eof():
            c = self.char()
            if c in _WHITE_SPACE:
                self.pos += 1
            elif c == "#":
                while not self.eof():
                    c = self.char()
                    self.pos += 1
                    if c == "\n":
                        break
            else:
                break

    def bump_and_bump_space(self) -> bool:
        if not self.bump():
            return False
        self.bump_space()
        return not self.eof()

    def peek_space(self) -> str | None:
        if not self.flags.x:
            return self.peek()
        i = self.pos + 1
        in_comment = False
        while i < self.n:
            c = self.p[i]
            if c in _WHITE_SPACE:
                pass
            elif not in_comment and c == "#":
                in_comment = True
            elif in_comment and c == "\n":
                in_comment = False
            elif not in_comment:
                return c
            i += 1
        return None

    # -- rendering -----------------------------------------------------
    def word(self) -> str:
        """A one-char `re` class of word characters under the current flags."""
        if not self.flags.u:
            return "[0-9A-Za-z_]"
        self.uses_word = True
        return f"[{_word_exact()}]" if self.exact else "\\w"

    def lit(self, cp: int) -> tuple[str, int]:
        f = self.flags
        c = chr(cp)
        size = 32.0066 * len(c.encode("utf-8", "surrogatepass"))
        if f.i:
            if f.u:
                if c.lower() != c.upper() or c.casefold() != c:
                    return f"(?i:{_esc(cp)})", (80.0165 if c.isascii() else size * 2.5)
            elif c.isascii() and c.isalpha():
                return f"[{c.lower()}{c.upper()}]", 80.0165
        return _esc(cp), size

    # -- the parse -----------------------------------------------------
    def parse(self) -> str:
        # A stack of (saved concat, saved branches, saved flags) per group.
        stack: list[tuple[list, list, _Flags, bool]] = []
        concat: list = []
        branches: list = []
        capture = False
        depth = 0
        while True:
            self.bump_space()
            if self.eof():
                break
            c = self.char()
            if c == "(":
                depth += 1
                if depth > 250:
                    raise self.err("exceed the maximum number of nested parentheses/brackets (250)")
                kind = self.parse_group()
                if kind is None:  # flags were set
                    concat.append(None)
                    continue
                stack.append((concat, branches, self.flags, capture))
                self.flags, capture = kind
                concat, branches = [], []
            elif c == ")":
                if not stack:
                    raise self.err("unopened group")
                body = self.alternate([*branches, self.join(concat)])
                inner_capture = capture
                concat, branches, self.flags, capture = stack.pop()
                self.bump()
                concat.append((f"(?:{body[0]})", body[1] + (64 if inner_capture else 0)))
                depth -= 1
            elif c == "|":
                branches.append(self.join(concat))
                concat = []
                self.bump()
            elif c == "[":
                concat.append(self.parse_set_class())
            elif c in "?*+":
                self.parse_uncounted(concat, {"?": (0, 1), "*": (0, None), "+": (1, None)}[c])
            elif c == "{":
                self.parse_counted(concat)
            else:
                concat.append(self.parse_primitive())
        if stack:
            raise self.err("unclosed group")
        text, size = self.alternate([*branches, self.join(concat)])
        # regex's default size limit of the compiled program, which the Rust
        # policy keeps (REGEX_SIZE_LIMIT); estimated here from measured costs.
        if size > SIZE_LIMIT:
            raise self.err(f"Compiled regex exceeds size limit of {SIZE_LIMIT} bytes.")
        return text

    @staticmethod
    def join(concat: list) -> tuple[str, int]:
        items = [x for x in concat if x is not None]
        return "".join(t for t, _ in items), sum(c for _, c in items)

    @staticmethod
    def alternate(branches: list) -> tuple[str, int]:
        return "|".join(t for t, _ in branches), sum(c for _, c in branches) + 8.0 * (len(branches) - 1)

    def last_for_repetition(self, concat: list) -> tuple[str, int]:
        if not concat or concat[-1] is None:
            raise self.err("repetition operator missing expression")
        return concat.pop()

    def repeat(self, atom: tuple[str, int], lo: int, hi: int | None, greedy: bool) -> tuple[str, int]:
        if self.flags.U:
            greedy = not greedy
        q = f"{{{lo},}}" if hi is None else f"{{{lo},{hi}}}"
        text, cost = atom
        if hi is None:
            size = cost + 40.0 if lo == 0 else lo * cost + 32.0
        else:
            size = lo * cost + (hi - lo) * (cost + 40.0134)
        return f"(?:{text}){q}{'' if greedy else '?'}", min(size, 1e30)

    def parse_uncounted(self, concat: list, bounds: tuple[int, int | None]) -> None:
        atom = self.last_for_repetition(concat)
        greedy = True
        if self.bump() and self.char() == "?":
            greedy = False
            self.bump()
        concat.append(self.repeat(atom, bounds[0], bounds[1], greedy))

    def parse_decimal(self) -> int | None:
        while not self.eof() and self.char() in _WHITE_SPACE:
            self.bump()
        digits = ""
        while not self.eof() and "0" <= self.char() <= "9":
            digits += self.char()
            self.bump_and_bump_space()
        while not self.eof() and self.char() in _WHITE_SPACE:
            self.bump_and_bump_space()
        if not digits:
            return None
        n = int(digits)
        if n > 0xFFFFFFFF:
            raise self.err("decimal literal invalid")
        return n

    def parse_counted(self, concat: list) -> None:
        atom = self.last_for_repetition(concat)
        unclosed = "unclosed counted repetition"
        if not self.bump_and_bump_space():
            raise self.err(unclosed)
        lo = self.parse_decimal()
        if self.eof():
            raise self.err(unclosed)
        if self.char() == ",":
            if not self.bump_and_bump_space():
                raise self.err(unclosed)
            if self.char() != "}":
                hi = self.parse_decimal()
                if hi is None or lo is None:
                    raise self.err("repetition quantifier expects a valid decimal")
            else:
                if lo is None:
                    raise self.err("repetition quantifier expects a valid decimal")
                hi = None
        else:
            if lo is None:
                raise self.err("repetition quantifier expects a valid decimal")
            hi = lo
        if self.eof() or self.char() != "}":
            raise self.err(unclosed)
        greedy = True
        if self.bump_and_bump_space() and self.char() == "?":
            greedy = False
            self.bump()
        if hi is not None and lo > hi:
            raise self.err("invalid repetition count range, the start must be <= the end")
        concat.append(self.repeat(atom, lo, hi, greedy))

    def parse_group(self) -> tuple[_Flags, bool] | None:
        """At `(`: returns the flags of the group's body, or None (and
        updates the current flags) for a bare `(?flags)`."""
        self.bump()
        self.bump_space()
        if self.bump_if("?=") or self.bump_if("?!") or self.bump_if("?<=") or self.bump_if("?<!"):
            raise self.err("look-around, including look-ahead and look-behind, is not supported")
        if self.bump_if("?P<") or self.bump_if("?<"):
            self.parse_capture_name()
            return self.flags.copy(), True
        if self.bump_if("?"):
            if self.eof():
                raise self.err("unclosed group")
            new = self.parse_flags()
            end = self.char()
            self.bump()
            if end == ")":
                if new is None:
                    raise self.err("repetition operator missing expression")
                self.flags = new
                return None
            return (new if new is not None else self.flags.copy()), False
        return self.flags.copy(), True

    def parse_capture_name(self) -> None:
        if self.eof():
            raise self.err("unexpected end of input while parsing a capture group name")
        start = self.pos
        while True:
            c = self.char()
            if c == ">":
                break
            first = self.pos == start
            ok = c == "_" or c.isalpha() if first else c in "_.[]" or c.isalpha() or c.isnumeric()
            if not ok:
                raise self.err("invalid capture group character")
            if not self.bump():
                break
        if self.eof():
            raise self.err("unexpected end of input while parsing a capture group name")
        name = self.p[start : self.pos]
        self.bump()
        if not name:
            raise self.err("empty capture group name")
        if name in self.names:
            raise self.err("duplicate capture group name")
        self.names.add(name)

    def parse_flags(self) -> _Flags | None:
        """The flags before `:` or `)`; None when there are none."""
        f = self.flags.copy()
        seen: set[str] = set()
        negate = False
        any_item = False
        last_negation = False
        while self.char() not in ":)":
            c = self.char()
            if c == "-":
                if "-" in seen:
                    raise self.err("flag negation operator repeated")
                seen.add("-")
                negate = True
                last_negation = True
                any_item = True
            else:
                last_negation = False
                if c not in "imsUuRx":
                    raise self.err("unrecognized flag")
                if c in seen:
                    raise self.err("duplicate flag")
                seen.add(c)
                setattr(f, c, not negate)
                any_item = True
            if not self.bump():
                raise self.err("expected flag but got end of regex")
        if last_negation:
            raise self.err("flag negation operator must be followed by a flag")
        return f if any_item else None

    def parse_primitive(self) -> tuple[str, int]:
        c = self.char()
        if c == "\\":
            return self.parse_escape(in_class=False)[1]  # type: ignore[return-value]
        self.bump()
        if c == ".":
            f = self.flags
            if not f.u:
                raise self.err("pattern can match invalid UTF-8")
            if f.s:
                return "[\\s\\S]", 964.2
            return ("[^\\n\\r]" if f.R else "[^\\n]"), 1000.1
        if c == "^":
            return self.assertion("start_line")
        if c == "$":
            return self.assertion("end_line")
        return self.lit(ord(c))

    def assertion(self, kind: str) -> tuple[str, int]:
        return self.assertion_text(kind), (32.008 if kind.startswith("w") or kind == "nwb" else 0.0)

    def assertion_text(self, kind: str) -> str:
        f = self.flags
        if kind == "start_line" and not f.m:
            kind = "start_text"
        if kind == "end_line" and not f.m:
            kind = "end_text"
        if kind == "start_text":
            return "\\A"
        if kind == "end_text":
            return "\\Z"
        if kind == "start_line":
            return "(?<![^\\n\\r])(?!(?<=\\r)\\n)" if f.R else "(?<![^\\n])"
        if kind == "end_line":
            return "(?![^\\n\\r])(?!(?<=\\r)\\n)" if f.R else "(?![^\\n])"
        w = self.word()
        if kind == "wb":
            return "\\b" if w == "\\w" else f"(?:(?<={w})(?!{w})|(?<!{w})(?={w}))"
        if kind == "nwb":
            # Not Python's \B, which never matches an empty text.
            return f"(?:(?<={w})(?={w})|(?<!{w})(?!{w}))"
        if kind == "wstart":
            return f"(?<!{w})(?={w})"
        if kind == "wend":
            return f"(?<={w})(?!{w})"
        if kind == "wstart_half":
            return f"(?<!{w})"
        if kind == "wend_half":
            return f"(?!{w})"
        raise AssertionError(kind)

    def parse_hex(self, c: str) -> int:
        digits = {"x": 2, "u": 4, "U": 8}[c]
        if not self.bump_and_bump_space():
            raise self.err("incomplete escape sequence, reached end of pattern prematurely")
        if self.char() == "{":
            hexs = ""
            while self.bump_and_bump_space() and self.char() != "}":
                if self.char() not in "0123456789abcdefABCDEF":
                    raise self.err("hexadecimal literal is not a Unicode scalar value")
                hexs += self.char()
            if self.eof():
                raise self.err("incomplete escape sequence, reached end of pattern prematurely")
            self.bump_and_bump_space()
            if not hexs:
                raise self.err("hexadecimal literal empty")
        else:
            hexs = ""
            for i in range(digits):
                if i > 0 and not self.bump_and_bump_space():
                    raise self.err("incomplete escape sequence, reached end of pattern prematurely")
                if self.char() not in "0123456789abcdefABCDEF":
                    raise self.err("invalid hexadecimal digit")
                hexs += self.char()
            self.bump_and_bump_space()
        cp = int(hexs, 16) if len(hexs) <= 8 else 0x110000
        if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
            raise self.err("hexadecimal literal is not a Unicode scalar value")
        if c == "x" and cp > 0x7F and not self.flags.u:
            raise self.err("pattern can match invalid UTF-8")
        return cp

    def parse_escape(self, in_class: bool) -> tuple[str, object]:
        """At `\\`. Returns ("lit", code point), ("perl", (kind, negated)),
        ("assert", text) outside classes; a literal is rendered when not in
        a class: ("lit", code point) is returned as ("text", rendered)."""
        if not self.bump():
            raise self.err("incomplete escape sequence, reached end of pattern prematurely")
        c = self.char()
        if "0" <= c <= "9":
            raise self.err("backreferences are not supported")
        if c in "xuU":
            cp = self.parse_hex(c)
            return ("lit", cp) if in_class else ("text", self.lit(cp))
        if c in "pP":
            self.parse_unicode_class_name()
            raise self.err("Unicode property not found")
        if c in "dswDSW":
            self.bump()
            kind, neg = c.lower(), c.isupper()
            if in_class:
                return ("perl", (kind, neg))
            return ("text", self.perl_text(kind, neg))
        self.bump()
        if _escapeable(c):
            return ("lit", ord(c)) if in_class else ("text", self.lit(ord(c)))
        special = {"a": 7, "f": 12, "t": 9, "n": 10, "r": 13, "v": 11}
        if c in special:
            return ("lit", special[c]) if in_class else ("text", self.lit(special[c]))
        kinds = {"A": "start_text", "z": "end_text", "B": "nwb", "<": "wstart", ">": "wend"}
        kind = kinds.get(c)
        if c == "b":
            kind = "wb"
            if not self.eof() and self.char() == "{":
                kind = self.maybe_special_word_boundary() or "wb"
        if kind is None:
            raise self.err("unrecognized escape sequence")
        if in_class:
            raise self.err("unrecognized escape sequence")
        return ("text", self.assertion(kind))

    def maybe_special_word_boundary(self) -> str | None:
        start = self.pos
        if not self.bump_and_bump_space():
            raise self.err("unexpected end of input while parsing a special word boundary or repetition")
        if not (self.char().isascii() and (self.char().isalpha() or self.char() == "-")):
            self.pos = start
            return None
        name = ""
        while not self.eof() and self.char().isascii() and (self.char().isalpha() or self.char() == "-"):
            name += self.char()
            self.bump_and_bump_space()
        if self.eof() or self.char() != "}":
            raise self.err("special word boundary assertion is either unclosed or contains an invalid character")
        self.bump()
        kinds = {"start": "wstart", "end": "wend", "start-half": "wstart_half", "end-half": "wend_half"}
        if name not in kinds:
            raise self.err("special word boundary assertion is unrecognized")
        return kinds[name]

    def parse_unicode_class_name(self) -> None:
        if not self.bump_and_bump_space():
            raise self.err("incomplete escape sequence, reached end of pattern prematurely")
        if self.char() == "{":
            while self.bump_and_bump_space() and self.char() != "}":
                pass
            if self.eof():
                raise self.err("incomplete escape sequence, reached end of pattern prematurely")
            self.bump()
        else:
            if self.char() == "\\":
                raise self.err("invalid Unicode character class")
            self.bump_and_bump_space()
        if not self.flags.u:
            raise self.err("Unicode not allowed here")

    def perl_text(self, kind: str, neg: bool) -> tuple[str, int]:
        if not self.flags.u:
            if neg:
                raise self.err("pattern can match invalid UTF-8")
            ranges = _ASCII_CLASSES[_PERL_ASCII[kind]]
            return "[" + _ranges_body(ranges) + "]", 64.0151 + 8.0 * len(ranges)
        body = self.perl_body(kind)
        cost = _PERL_COST[kind, neg]
        if body == "\\w":
            return ("\\W" if neg else "\\w"), cost
        return (f"[^{body}]" if neg else f"[{body}]"), cost

    def perl_body(self, kind: str) -> str:
        if kind == "d":
            return "\\d"
        if kind == "s":
            return _SPACE
        w = self.word()
        return w[1:-1] if w.startswith("[") else w

    # -- classes ---------------------------------------------------------
    def parse_set_class(self) -> str:
        """At the outer `[`: parse the class and return a one-char regex."""
        # Stack entries: ("open", parent_union, negated) or ("op", kind, lhs).
        stack: list[tuple] = []
        union: list = []
        while True:
            self.bump_space()
            if self.eof():
                raise self.err("unclosed character class")
            c = self.char()
            if c == "[":
                if stack:
                    ascii_cls = self.maybe_ascii_class()
                    if ascii_cls is not None:
                        union.append(ascii_cls)
                        continue
                if len(stack) > 250:
                    raise self.err("exceed the maximum number of nested parentheses/brackets (250)")
                negated, first = self.parse_set_class_open()
                stack.append(("open", union, negated))
                union = first
            elif c == "]":
                item = self.pop_class_op(stack, ("union", union))
                top = stack.pop()
                assert top[0] == "open"
                self.bump()
                cls = ("bracket", top[2], item)
                if not stack:
                    return self.render_class(cls)
                union = top[1]
                union.append(cls)
            elif c == "&" and self.peek() == "&":
                self.pos += 2
                union = self.push_class_op(stack, "and", union)
            elif c == "-" and self.peek() == "-":
                self.pos += 2
                union = self.push_class_op(stack, "minus", union)
            elif c == "~" and self.peek() == "~":
                self.pos += 2
                union = self.push_class_op(stack, "xor", union)
            else:
                union.append(self.parse_set_class_range())

    def push_class_op(self, stack: list, kind: str, union: list) -> list:
        lhs = self.pop_class_op(stack, ("union", union))
        stack.append(("op", kind, lhs))
        return []

    @staticmethod
    def pop_class_op(stack: list, rhs: tuple) -> tuple:
        if stack and stack[-1][0] == "op":
            _, kind, lhs = stack.pop()
            return ("op", kind, lhs, rhs)
        return rhs

    def parse_set_class_open(self) -> tuple[bool, list]:
        if not self.bump_and_bump_space():
            raise self.err("unclosed character class")
        negated = False
        if self.char() == "^":
            negated = True
            if not self.bump_and_bump_space():
                raise self.err("unclosed character class")
        union: list = []
        while self.char() == "-":
            union.append(("range", 45, 45))
            if not self.bump_and_bump_space():
                raise self.err("unclosed character class")
        if not union and self.char() == "]":
            union.append(("range", 93, 93))
            if not self.bump_and_bump_space():
                raise self.err("unclosed character class")
        return negated, union

    def maybe_ascii_class(self) -> tuple | None:
        start = self.pos
        m = re.compile(r"\[:(\^?)([^:]*):\]").match(self.p, self.pos)
        if m and m.group(2) in _ASCII_CLASSES:
            self.pos = m.end()
            return ("ascii", m.group(2), bool(m.group(1)))
        self.pos = start
        return None

    def parse_set_class_item(self) -> tuple:
        if self.char() == "\\":
            kind, val = self.parse_escape(in_class=True)
            if kind == "lit":
                return ("range", val, val)
            return ("perl", *val)
        c = self.char()
        self.bump()
        return ("range", ord(c), ord(c))

    def parse_set_class_range(self) -> tuple:
        prim1 = self.parse_set_class_item()
        self.bump_space()
        if self.eof():
            raise self.err("unclosed character class")
        if self.char() != "-" or self.peek_space() in ("]", "-"):
            return prim1
        if not self.bump_and_bump_space():
            raise self.err("unclosed character class")
        prim2 = self.parse_set_class_item()
        if prim1[0] != "range" or prim2[0] != "range":
            raise self.err("invalid range boundary, must be a literal")
        if prim1[1] > prim2[1]:
            raise self.err("invalid character class range, the start must be <= the end")
        return ("range", prim1[1], prim2[1])

    def render_class(self, cls: tuple) -> tuple[str, int]:
        if not self.flags.u:
            text, n = self.render_byte_class(cls)
            return text, 64.0151 + 8.0 * max(1, n)
        kind, text = self.render_set(cls)
        one = f"[{text}]" if kind == "body" and text else ("(?!)" if kind == "body" else text)
        return (f"(?i:{one})" if self.flags.i else one), _class_cost(cls, self.flags.i)

    def render_set(self, node: tuple) -> tuple[str, str]:
        """A class node as ("body", text inside [...]) or ("x", a regex
        matching exactly one character)."""
        t = node[0]
        if t == "range":
            lo, hi = node[1], node[2]
            return ("body", _esc(lo) if lo == hi else f"{_esc(lo)}-{_esc(hi)}")
        if t == "perl":
            _, kind, neg = node
            body = self.perl_body(kind)
            if not neg:
                return ("body", body)
            if body == "\\w" or body == "\\d":
                return ("body", body.upper())
            return ("x", f"[^{body}]")
        if t == "ascii":
            _, name, neg = node
            body = _ranges_body(_ASCII_CLASSES[name])
            return ("x", f"[^{body}]") if neg else ("body", body)
        if t == "union":
            bodies, xs = [], []
            for item in node[1]:
                k, s = self.render_set(item)
                (bodies if k == "body" else xs).append(s)
            if not xs:
                return ("body", "".join(bodies))
            alts = ([f"[{''.join(bodies)}]"] if "".join(bodies) else []) + xs
            return ("x", "(?:" + "|".join(alts) + ")")
        if t == "bracket":
            _, neg, inner = node
            k, s = self.render_set(inner)
            if not neg:
                return (k, s)
            if k == "body":
                return ("x", f"[^{s}]") if s else ("x", "[\\s\\S]")
            return ("x", f"(?:(?!{s})[\\s\\S])")
        if t == "op":
            _, kind, lhs, rhs = node
            a, b = self.one(lhs), self.one(rhs)
            if kind == "and":
                return ("x", f"(?:(?={a}){b})")
            if kind == "minus":
                return ("x", f"(?:(?!{b}){a})")
            return ("x", f"(?:(?!{b}){a}|(?!{a}){b})")
        raise AssertionError(t)

    def one(self, node: tuple) -> str:
        k, s = self.render_set(node)
        if k == "x":
            return s
        return f"[{s}]" if s else "(?!)"

    def render_byte_class(self, cls: tuple) -> tuple[str, int]:
        """Without `u` a class is a set of bytes; it must stay ASCII."""
        s = self.byte_set(cls)
        if self.flags.i:
            for b in list(s):
                if 65 <= b <= 90 or 97 <= b <= 122:
                    s.add(b ^ 0x20)
        if any(b > 0x7F for b in s):
            raise self.err("pattern can match invalid UTF-8")
        if not s:
            return "(?!)", 0
        ranges = _merge(s)
        return "[" + _ranges_body(ranges) + "]", len(ranges)

    def byte_set(self, node: tuple) -> set[int]:
        t = node[0]
        if t == "range":
            if node[2] > 0x7F:
                raise self.err("Unicode not allowed here")
            return set(range(node[1], node[2] + 1))
        if t == "perl":
            _, kind, neg = node
            s = _ranges_set(_ASCII_CLASSES[_PERL_ASCII[kind]])
            if neg:
                raise self.err("pattern can match invalid UTF-8")
            return s
        if t == "ascii":
            s = _ranges_set(_ASCII_CLASSES[node[1]])
            return set(range(256)) - s if node[2] else s
        if t == "union":
            out: set[int] = set()
            for item in node[1]:
                out |= self.byte_set(item)
            return out
        if t == "bracket":
            s = self.byte_set(node[2])
            if self.flags.i:
                for b in list(s):
                    if 65 <= b <= 90 or 97 <= b <= 122:
                        s.add(b ^ 0x20)
            return set(range(256)) - s if node[1] else s
        if t == "op":
            a, b = self.byte_set(node[2]), self.byte_set(node[3])
            return {"and": a & b, "minus": a - b, "xor": a ^ b}[node[1]]
        raise AssertionError(t)


# The compiled size of a pattern, estimated from measurements of regex 1.13
# with the policy's features: the largest n with `X{n}` under the 1 MiB
# limit gives X's cost (literal 32 bytes per UTF-8 byte, an ASCII class
# 64 + 8 per range, `.` 1000, `\w` 51150, `\d` 5127, `\s` 680, an
# optional copy 40 more, an alternative 8 more).
SIZE_LIMIT = 1 << 20
_PERL_COST = {
    ("w", False): 51150.0,
    ("w", True): 46603.0,
    ("d", False): 5127.5,
    ("d", True): 5127.5,
    ("s", False): 680.2,
    ("s", True): 1000.1,
}


def _class_cost(node: tuple, ci: bool) -> float:
    ranges = _plain_ranges(node)
    if ranges is not None and all(hi < 0x80 for _, hi in ranges):
        folds = {b for lo, hi in ranges for b in range(lo, hi + 1)}
        if ci:
            folds |= {b ^ 0x20 for b in folds if chr(b).isalpha()}
            if folds & {ord("k"), ord("K"), ord("s"), ord("S")}:
                return 1000.1  # K and s fold to U+212A and U+017F
        return 64.0151 + 8.0 * max(1, len(_merge(folds)))
    return _rough_cost(node)


def _plain_ranges(node: tuple) -> list[tuple[int, int]] | None:
    """The ranges of a class made only of literals and ranges."""
    if node[0] == "range":
        return [(node[1], node[2])]
    if node[0] == "union":
        out: list[tuple[int, int]] = []
        for x in node[1]:
            r = _plain_ranges(x)
            if r is None:
                return None
            out += r
        return out
    if node[0] == "bracket" and not node[1]:
        return _plain_ranges(node[2])
    return None


def _merge(points: set[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for b in sorted(points):
        if ranges and ranges[-1][1] == b - 1:
            ranges[-1] = (ranges[-1][0], b)
        else:
            ranges.append((b, b))
    return ranges


def _rough_cost(node: tuple) -> float:
    t = node[0]
    if t == "range":
        return 72.0 if node[2] < 0x80 else 1000.1
    if t == "perl":
        return _PERL_COST[node[1], node[2]]
    if t == "ascii":
        return 1000.1 if node[2] else 80.0
    if t == "union":
        return max([_rough_cost(x) for x in node[1]], default=72.0)
    if t == "bracket":
        inner = _rough_cost(node[2])
        return max(inner, 1000.1) if node[1] else inner
    return max(_rough_cost(node[2]), _rough_cost(node[3]))


def _ranges_body(ranges) -> str:
    return "".join(_esc(lo) if lo == hi else f"{_esc(lo)}-{_esc(hi)}" for lo, hi in ranges)


def _ranges_set(ranges) -> set[int]:
    return {b for lo, hi in ranges for b in range(lo, hi + 1)}


class RustRegex:
    """A compiled pattern with Rust's semantics: `search(text)` is Rust's
    `is_match`."""

    def __init__(self, pattern: str):
        p = _Parser(pattern, exact=False)
        fast = p.parse()
        try:
            self._fast = re.compile(fast)
        except (re.error, RecursionError, OverflowError) as e:  # pragma: no cover - a translation bug
            raise RegexError(f"cannot be compiled: {e}") from None
        self._pattern = pattern
        self._uses_word = p.uses_word
        self._exact: re.Pattern[str] | None = None

    def is_match(self, text: str) -> bool:
        if not self._uses_word or text.isascii():
            return self._fast.search(text) is not None
        if self._exact is None:
            self._exact = re.compile(_Parser(self._pattern, exact=True).parse())
        return self._exact.search(text) is not None


def compile_rust(pattern: str) -> RustRegex:
    """Compile a Rust `regex` pattern; raises `RegexError` where Rust would
    refuse it."""
    return RustRegex(pattern)


_WORD_EXACT = _word_body()
