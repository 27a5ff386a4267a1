// Rust `regex` syntax, compiled to a JavaScript RegExp (flag `u`).
//
// A port of examples/policies/python/rust_regex.py: the pattern is parsed
// with the rules of regex-syntax 0.8 (the same errors for look-around,
// back-references, `\p{..}` classes, bad escapes, the 1 MiB compiled-size
// limit, …) and written as an equivalent RegExp:
//
// * flags `i m s x U R u` as Rust scopes them; `i` becomes the `(?i:…)`
//   modifier group;
// * `.` never matches `\n` (nor `\r` with `R`), `^`/`$` are text anchors
//   unless `m`, and in `m` mode only `\n` (and `\r` with `R`) ends a line;
// * `\d` is `\p{Nd}`, `\s` is White_Space, `\w` is Rust's word class
//   (Alphabetic, marks, Nd, Pc, Join_Control) and `\b` is built from it with
//   look-around (JavaScript's own `\w`/`\b` are ASCII only);
// * nested classes, `[:alpha:]`, and `&&`, `--`, `~~` via look-ahead.
//
// Every group becomes `(?:…)`: only whether the pattern matches is used.

export class RegexError extends Error {}

const SPACE = "\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const WORD = "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}";
const ASCII_CLASSES = {
  alnum: [[48, 57], [65, 90], [97, 122]],
  alpha: [[65, 90], [97, 122]],
  ascii: [[0, 127]],
  blank: [[9, 9], [32, 32]],
  cntrl: [[0, 31], [127, 127]],
  digit: [[48, 57]],
  graph: [[33, 126]],
  lower: [[97, 122]],
  print: [[32, 126]],
  punct: [[33, 47], [58, 64], [91, 96], [123, 126]],
  space: [[9, 13], [32, 32]],
  upper: [[65, 90]],
  word: [[48, 57], [65, 90], [95, 95], [97, 122]],
  xdigit: [[48, 57], [65, 70], [97, 102]],
};
const PERL_ASCII = { d: "digit", s: "space", w: "word" };
const META = new Set("\\.+*?()|[]{}^$#&-~");

// Compiled sizes measured on regex 1.13 (see the Python port).
const SIZE_LIMIT = 1 << 20;
const PERL_COST = { w: 51150.0, W: 46603.0, d: 5127.5, D: 5127.5, s: 680.2, S: 1000.1 };

const isAsciiAlnum = (c) => /^[0-9A-Za-z]$/.test(c);
const isAsciiAlpha = (c) => /^[A-Za-z]$/.test(c);
const SPACE_RE = new RegExp(`^[${SPACE}]$`, "u");
const isSpace = (c) => SPACE_RE.test(c); // Rust's char::is_whitespace
const isAlpha = (c) => /^\p{Alphabetic}$/u.test(c);
const isAlnum = (c) => /^[\p{Alphabetic}\p{N}]$/u.test(c);

function escapeable(c) {
  if (META.has(c)) return true;
  if (c.codePointAt(0) > 0x7f) return false;
  return !(isAsciiAlnum(c) || c === "<" || c === ">");
}

function esc(cp) {
  const c = String.fromCodePoint(cp);
  if (cp < 0x80 && (isAsciiAlnum(c) || c === "_")) return c;
  return `\\u{${cp.toString(16)}}`;
}

function rangesBody(ranges) {
  return ranges.map(([lo, hi]) => (lo === hi ? esc(lo) : `${esc(lo)}-${esc(hi)}`)).join("");
}

function rangesSet(ranges) {
  const s = new Set();
  for (const [lo, hi] of ranges) for (let b = lo; b <= hi; b++) s.add(b);
  return s;
}

function merge(points) {
  const ranges = [];
  for (const b of [...points].sort((x, y) => x - y)) {
    const last = ranges[ranges.length - 1];
    if (last && last[1] === b - 1) last[1] = b;
    else ranges.push([b, b]);
  }
  return ranges;
}

function plainRanges(node) {
  if (node[0] === "range") return [[node[1], node[2]]];
  if (node[0] === "union") {
    const out = [];
    for (const x of node[1]) {
      const r = plainRanges(x);
      if (r === null) return null;
      out.push(...r);
    }
    return out;
  }
  if (node[0] === "bracket" && !node[1]) return plainRanges(node[2]);
  return null;
}

function roughCost(node) {
  switch (node[0]) {
    case "range":
      return node[2] < 0x80 ? 72.0 : 1000.1;
    case "perl":
      return PERL_COST[node[2] ? node[1].toUpperCase() : node[1]];
    case "ascii":
      return node[2] ? 1000.1 : 80.0;
    case "union":
      return Math.max(72.0, ...node[1].map(roughCost));
    case "bracket": {
      const inner = roughCost(node[2]);
      return node[1] ? Math.max(inner, 1000.1) : inner;
    }
    default:
      return Math.max(roughCost(node[2]), roughCost(node[3]));
  }
}

function classCost(node, ci) {
  const ranges = plainRanges(node);
  if (ranges !== null && ranges.every(([, hi]) => hi < 0x80)) {
    const folds = rangesSet(ranges);
    if (ci) {
      for (const b of [...folds]) if (isAsciiAlpha(String.fromCharCode(b))) folds.add(b ^ 0x20);
      if ([107, 75, 115, 83].some((b) => folds.has(b))) return 1000.1;
    }
    return 64.0151 + 8.0 * Math.max(1, merge(folds).length);
  }
  return roughCost(node);
}

class Flags {
  constructor() {
    this.i = this.m = this.s = this.U = this.x = this.R = false;
    this.u = true;
  }
  copy() {
    return Object.assign(new Flags(), this);
  }
}

class Parser {
  constructor(pattern, globalI = false) {
    // globalI: every case-sensitive atom is case-insensitive, so the caller
    // sets the RegExp's own `i` flag and no `(?i:…)` group is written.
    this.globalI = globalI;
    this.sawCi = false;
    this.sawCs = false;
    this.p = Array.from(pattern);
    this.n = this.p.length;
    this.pos = 0;
    this.flags = new Flags();
    this.names = new Set();
  }

  err(msg) {
    return new RegexError(msg);
  }
  eof() {
    return this.pos >= this.n;
  }
  char() {
    return this.p[this.pos];
  }
  peek() {
    return this.pos + 1 < this.n ? this.p[this.pos + 1] : null;
  }
  bump() {
    if (this.pos < this.n) this.pos++;
    return this.pos < this.n;
  }
  bumpIf(s) {
    const cs = Array.from(s);
    for (let k = 0; k < cs.length; k++) if (this.p[this.pos + k] !== cs[k]) return false;
    this.pos += cs.length;
    return true;
  }
  bumpSpace() {
    if (!this.flags.x) return;
    while (!this.eof()) {
      const c = this.char();
      if (isSpace(c)) this.pos++;
      else if (c === "#") {
        while (!this.eof()) {
          const d = this.char();
          this.pos++;
          if (d === "\n") break;
        }
      } else break;
    }
  }
  bumpAndBumpSpace() {
    if (!this.bump()) return false;
    this.bumpSpace();
    return !this.eof();
  }
  peekSpace() {
    if (!this.flags.x) return this.peek();
    let inComment = false;
    for (let i = this.pos + 1; i < this.n; i++) {
      const c = this.p[i];
      if (isSpace(c)) continue;
      if (!inComment && c === "#") inComment = true;
      else if (inComment && c === "\n") inComment = false;
      else if (!inComment) return c;
    }
    return null;
  }

  ci(text) {
    return this.globalI ? text : `(?i:${text})`;
  }

  word() {
    return this.flags.u ? `[${WORD}]` : "[0-9A-Za-z_]";
  }

  lit(cp) {
    const f = this.flags;
    const c = String.fromCodePoint(cp);
    const utf8 = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    const size = 32.0066 * utf8;
    const cased = c.toLowerCase() !== c.toUpperCase() || /^[\p{Lu}\p{Ll}\p{Lt}]$/u.test(c);
    if (f.i) {
      if (f.u) {
        if (cased) {
          this.sawCi = true;
          return [this.ci(esc(cp)), cp < 0x80 ? 80.0165 : size * 2.5];
        }
      } else if (isAsciiAlpha(c)) {
        return [`[${c.toLowerCase()}${c.toUpperCase()}]`, 80.0165];
      }
    }
    if (cased) this.sawCs = true;
    return [esc(cp), size];
  }

  parse() {
    const stack = [];
    let concat = [];
    let branches = [];
    let capture = false;
    let depth = 0;
    for (;;) {
      this.bumpSpace();
      if (this.eof()) break;
      const c = this.char();
      if (c === "(") {
        depth++;
        if (depth > 250) throw this.err("exceed the maximum number of nested parentheses/brackets (250)");
        const kind = this.parseGroup();
        if (kind === null) {
          concat.push(null);
          continue;
        }
        stack.push([concat, branches, this.flags, capture]);
        [this.flags, capture] = kind;
        concat = [];
        branches = [];
      } else if (c === ")") {
        if (stack.length === 0) throw this.err("unopened group");
        const body = Parser.alternate([...branches, Parser.join(concat)]);
        const innerCapture = capture;
        [concat, branches, this.flags, capture] = stack.pop();
        this.bump();
        concat.push([`(?:${body[0]})`, body[1] + (innerCapture ? 64 : 0)]);
        depth--;
      } else if (c === "|") {
        branches.push(Parser.join(concat));
        concat = [];
        this.bump();
      } else if (c === "[") {
        concat.push(this.parseSetClass());
      } else if (c === "?" || c === "*" || c === "+") {
        this.parseUncounted(concat, { "?": [0, 1], "*": [0, null], "+": [1, null] }[c]);
      } else if (c === "{") {
        this.parseCounted(concat);
      } else {
        concat.push(this.parsePrimitive());
      }
    }
    if (stack.length) throw this.err("unclosed group");
    const [text, size] = Parser.alternate([...branches, Parser.join(concat)]);
    if (size > SIZE_LIMIT) throw this.err(`Compiled regex exceeds size limit of ${SIZE_LIMIT} bytes.`);
    return text;
  }

  static join(concat) {
    const items = concat.filter((x) => x !== null);
    return [items.map((x) => x[0]).join(""), items.reduce((a, x) => a + x[1], 0)];
  }

  static alternate(branches) {
    return [branches.map((b) => b[0]).join("|"), branches.reduce((a, b) => a + b[1], 0) + 8.0 * (branches.length - 1)];
  }

  lastForRepetition(concat) {
    if (concat.length === 0 || concat[concat.length - 1] === null) {
      throw this.err("repetition operator missing expression");
    }
    return concat.pop();
  }

  repeat(atom, lo, hi, greedy) {
    if (this.flags.U) greedy = !greedy;
    const q = hi === null ? `{${lo},}` : `{${lo},${hi}}`;
    const [text, cost] = atom;
    let size;
    if (hi === null) size = lo === 0 ? cost + 40.0 : lo * cost + 32.0;
    else size = lo * cost + (hi - lo) * (cost + 40.0134);
    return [`(?:${text})${q}${greedy ? "" : "?"}`, Math.min(size, 1e30)];
  }

  parseUncounted(concat, [lo, hi]) {
    const atom = this.lastForRepetition(concat);
    let greedy = true;
    if (this.bump() && this.char() === "?") {
      greedy = false;
      this.bump();
    }
    concat.push(this.repeat(atom, lo, hi, greedy));
  }

  parseDecimal() {
    while (!this.eof() && isSpace(this.char())) this.bump();
    let digits = "";
    while (!this.eof() && this.char() >= "0" && this.char() <= "9") {
      digits += this.char();
      this.bumpAndBumpSpace();
    }
    while (!this.eof() && isSpace(this.char())) this.bumpAndBumpSpace();
    if (!digits) return null;
    const n = Number(digits);
    if (n > 0xffffffff) throw this.err("decimal literal invalid");
    return n;
  }

  parseCounted(concat) {
    const atom = this.lastForRepetition(concat);
    const unclosed = "unclosed counted repetition";
    if (!this.bumpAndBumpSpace()) throw this.err(unclosed);
    const lo = this.parseDecimal();
    if (this.eof()) throw this.err(unclosed);
    let hi;
    if (this.char() === ",") {
      if (!this.bumpAndBumpSpace()) throw this.err(unclosed);
      if (this.char() !== "}") {
        hi = this.parseDecimal();
        if (hi === null || lo === null) throw this.err("repetition quantifier expects a valid decimal");
      } else {
        if (lo === null) throw this.err("repetition quantifier expects a valid decimal");
        hi = null;
      }
    } else {
      if (lo === null) throw this.err("repetition quantifier expects a valid decimal");
      hi = lo;
    }
    if (this.eof() || this.char() !== "}") throw this.err(unclosed);
    let greedy = true;
    if (this.bumpAndBumpSpace() && this.char() === "?") {
      greedy = false;
      this.bump();
    }
    if (hi !== null && lo > hi) throw this.err("invalid repetition count range, the start must be <= the end");
    concat.push(this.repeat(atom, lo, hi, greedy));
  }

  parseGroup() {
    this.bump();
    this.bumpSpace();
    if (this.bumpIf("?=") || this.bumpIf("?!") || this.bumpIf("?<=") || this.bumpIf("?<!")) {
      throw this.err("look-around, including look-ahead and look-behind, is not supported");
    }
    if (this.bumpIf("?P<") || this.bumpIf("?<")) {
      this.parseCaptureName();
      return [this.flags.copy(), true];
    }
    if (this.bumpIf("?")) {
      if (this.eof()) throw this.err("unclosed group");
      const f = this.parseFlags();
      const end = this.char();
      this.bump();
      if (end === ")") {
        if (f === null) throw this.err("repetition operator missing expression");
        this.flags = f;
        return null;
      }
      return [f !== null ? f : this.flags.copy(), false];
    }
    return [this.flags.copy(), true];
  }

  parseCaptureName() {
    const eofMsg = "unexpected end of input while parsing a capture group name";
    if (this.eof()) throw this.err(eofMsg);
    const start = this.pos;
    for (;;) {
      const c = this.char();
      if (c === ">") break;
      const ok =
        this.pos === start ? c === "_" || isAlpha(c) : c === "_" || c === "." || c === "[" || c === "]" || isAlnum(c);
      if (!ok) throw this.err("invalid capture group character");
      if (!this.bump()) break;
    }
    if (this.eof()) throw this.err(eofMsg);
    const name = this.p.slice(start, this.pos).join("");
    this.bump();
    if (!name) throw this.err("empty capture group name");
    if (this.names.has(name)) throw this.err("duplicate capture group name");
    this.names.add(name);
  }

  parseFlags() {
    const f = this.flags.copy();
    const seen = new Set();
    let negate = false;
    let any = false;
    let lastNegation = false;
    while (this.char() !== ":" && this.char() !== ")") {
      const c = this.char();
      if (c === "-") {
        if (seen.has("-")) throw this.err("flag negation operator repeated");
        seen.add("-");
        negate = true;
        lastNegation = true;
        any = true;
      } else {
        lastNegation = false;
        if (!"imsUuRx".includes(c)) throw this.err("unrecognized flag");
        if (seen.has(c)) throw this.err("duplicate flag");
        seen.add(c);
        f[c] = !negate;
        any = true;
      }
      if (!this.bump()) throw this.err("expected flag but got end of regex");
    }
    if (lastNegation) throw this.err("flag negation operator must be followed by a flag");
    return any ? f : null;
  }

  parsePrimitive() {
    const c = this.char();
    if (c === "\\") return this.parseEscape(false)[1];
    this.bump();
    if (c === ".") {
      const f = this.flags;
      if (!f.u) throw this.err("pattern can match invalid UTF-8");
      if (f.s) return ["[^]", 964.2];
      return [f.R ? "[^\\n\\r]" : "[^\\n]", 1000.1];
    }
    if (c === "^") return this.assertion("start_line");
    if (c === "$") return this.assertion("end_line");
    return this.lit(c.codePointAt(0));
  }

  assertion(kind) {
    return [this.assertionText(kind), kind.startsWith("w") || kind === "nwb" ? 32.008 : 0.0];
  }

  assertionText(kind) {
    const f = this.flags;
    if (kind === "start_line" && !f.m) kind = "start_text";
    if (kind === "end_line" && !f.m) kind = "end_text";
    switch (kind) {
      case "start_text":
        return "^";
      case "end_text":
        return "$";
      case "start_line":
        return f.R ? "(?<![^\\n\\r])(?!(?<=\\r)\\n)" : "(?<![^\\n])";
      case "end_line":
        return f.R ? "(?![^\\n\\r])(?!(?<=\\r)\\n)" : "(?![^\\n])";
    }
    const w = this.word();
    switch (kind) {
      case "wb":
        return `(?:(?<=${w})(?!${w})|(?<!${w})(?=${w}))`;
      case "nwb":
        return `(?:(?<=${w})(?=${w})|(?<!${w})(?!${w}))`;
      case "wstart":
        return `(?<!${w})(?=${w})`;
      case "wend":
        return `(?<=${w})(?!${w})`;
      case "wstart_half":
        return `(?<!${w})`;
      case "wend_half":
        return `(?!${w})`;
    }
    throw new Error(kind);
  }

  parseHex(c) {
    const digits = { x: 2, u: 4, U: 8 }[c];
    const eofMsg = "incomplete escape sequence, reached end of pattern prematurely";
    const isHex = (d) => /^[0-9a-fA-F]$/.test(d);
    if (!this.bumpAndBumpSpace()) throw this.err(eofMsg);
    let hex = "";
    if (this.char() === "{") {
      while (this.bumpAndBumpSpace() && this.char() !== "}") {
        if (!isHex(this.char())) throw this.err("hexadecimal literal is not a Unicode scalar value");
        hex += this.char();
      }
      if (this.eof()) throw this.err(eofMsg);
      this.bumpAndBumpSpace();
      if (!hex) throw this.err("hexadecimal literal empty");
    } else {
      for (let i = 0; i < digits; i++) {
        if (i > 0 && !this.bumpAndBumpSpace()) throw this.err(eofMsg);
        if (!isHex(this.char())) throw this.err("invalid hexadecimal digit");
        hex += this.char();
      }
      this.bumpAndBumpSpace();
    }
    const cp = hex.length <= 8 ? parseInt(hex, 16) : 0x110000;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      throw this.err("hexadecimal literal is not a Unicode scalar value");
    }
    if (c === "x" && cp > 0x7f && !this.flags.u) throw this.err("pattern can match invalid UTF-8");
    return cp;
  }

  // At `\`: in a class returns ["lit", cp] or ["perl", kind, negated];
  // outside returns ["text", [regex, cost]].
  parseEscape(inClass) {
    if (!this.bump()) throw this.err("incomplete escape sequence, reached end of pattern prematurely");
    const c = this.char();
    if (c >= "0" && c <= "9") throw this.err("backreferences are not supported");
    if (c === "x" || c === "u" || c === "U") {
      const cp = this.parseHex(c);
      return inClass ? ["lit", cp] : ["text", this.lit(cp)];
    }
    if (c === "p" || c === "P") {
      this.parseUnicodeClassName();
      throw this.err("Unicode property not found");
    }
    if ("dswDSW".includes(c)) {
      this.bump();
      const kind = c.toLowerCase();
      const neg = c !== kind;
      return inClass ? ["perl", kind, neg] : ["text", this.perlText(kind, neg)];
    }
    this.bump();
    const cp = c.codePointAt(0);
    if (escapeable(c)) return inClass ? ["lit", cp] : ["text", this.lit(cp)];
    const special = { a: 7, f: 12, t: 9, n: 10, r: 13, v: 11 };
    if (c in special) return inClass ? ["lit", special[c]] : ["text", this.lit(special[c])];
    const kinds = { A: "start_text", z: "end_text", B: "nwb", "<": "wstart", ">": "wend" };
    let kind = kinds[c];
    if (c === "b") {
      kind = "wb";
      if (!this.eof() && this.char() === "{") kind = this.maybeSpecialWordBoundary() || "wb";
    }
    if (kind === undefined || inClass) throw this.err("unrecognized escape sequence");
    return ["text", this.assertion(kind)];
  }

  maybeSpecialWordBoundary() {
    const start = this.pos;
    const valid = (d) => /^[A-Za-z-]$/.test(d);
    if (!this.bumpAndBumpSpace()) {
      throw this.err("unexpected end of input while parsing a special word boundary or repetition");
    }
    if (!valid(this.char())) {
      this.pos = start;
      return null;
    }
    let name = "";
    while (!this.eof() && valid(this.char())) {
      name += this.char();
      this.bumpAndBumpSpace();
    }
    if (this.eof() || this.char() !== "}") {
      throw this.err("special word boundary assertion is either unclosed or contains an invalid character");
    }
    this.bump();
    const kinds = { start: "wstart", end: "wend", "start-half": "wstart_half", "end-half": "wend_half" };
    if (!(name in kinds)) throw this.err("special word boundary assertion is unrecognized");
    return kinds[name];
  }

  parseUnicodeClassName() {
    const eofMsg = "incomplete escape sequence, reached end of pattern prematurely";
    if (!this.bumpAndBumpSpace()) throw this.err(eofMsg);
    if (this.char() === "{") {
      while (this.bumpAndBumpSpace() && this.char() !== "}");
      if (this.eof()) throw this.err(eofMsg);
      this.bump();
    } else {
      if (this.char() === "\\") throw this.err("invalid Unicode character class");
      this.bumpAndBumpSpace();
    }
    if (!this.flags.u) throw this.err("Unicode not allowed here");
  }

  perlText(kind, neg) {
    if (!this.flags.u) {
      if (neg) throw this.err("pattern can match invalid UTF-8");
      const ranges = ASCII_CLASSES[PERL_ASCII[kind]];
      return [`[${rangesBody(ranges)}]`, 64.0151 + 8.0 * ranges.length];
    }
    const body = this.perlBody(kind);
    return [neg ? `[^${body}]` : `[${body}]`, PERL_COST[neg ? kind.toUpperCase() : kind]];
  }

  perlBody(kind) {
    if (kind === "d") return "\\p{Nd}";
    if (kind === "s") return SPACE;
    return WORD;
  }

  parseSetClass() {
    const stack = [];
    let union = [];
    for (;;) {
      this.bumpSpace();
      if (this.eof()) throw this.err("unclosed character class");
      const c = this.char();
      if (c === "[") {
        if (stack.length) {
          const ascii = this.maybeAsciiClass();
          if (ascii !== null) {
            union.push(ascii);
            continue;
          }
        }
        if (stack.length > 250) throw this.err("exceed the maximum number of nested parentheses/brackets (250)");
        const [negated, first] = this.parseSetClassOpen();
        stack.push(["open", union, negated]);
        union = first;
      } else if (c === "]") {
        const item = Parser.popClassOp(stack, ["union", union]);
        const top = stack.pop();
        this.bump();
        const cls = ["bracket", top[2], item];
        if (stack.length === 0) return this.renderClass(cls);
        union = top[1];
        union.push(cls);
      } else if (c === "&" && this.peek() === "&") {
        this.pos += 2;
        union = Parser.pushClassOp(stack, "and", union);
      } else if (c === "-" && this.peek() === "-") {
        this.pos += 2;
        union = Parser.pushClassOp(stack, "minus", union);
      } else if (c === "~" && this.peek() === "~") {
        this.pos += 2;
        union = Parser.pushClassOp(stack, "xor", union);
      } else {
        union.push(this.parseSetClassRange());
      }
    }
  }

  static pushClassOp(stack, kind, union) {
    const lhs = Parser.popClassOp(stack, ["union", union]);
    stack.push(["op", kind, lhs]);
    return [];
  }

  static popClassOp(stack, rhs) {
    if (stack.length && stack[stack.length - 1][0] === "op") {
      const [, kind, lhs] = stack.pop();
      return ["op", kind, lhs, rhs];
    }
    return rhs;
  }

  parseSetClassOpen() {
    const unclosed = "unclosed character class";
    if (!this.bumpAndBumpSpace()) throw this.err(unclosed);
    let negated = false;
    if (this.char() === "^") {
      negated = true;
      if (!this.bumpAndBumpSpace()) throw this.err(unclosed);
    }
    const union = [];
    while (this.char() === "-") {
      union.push(["range", 45, 45]);
      if (!this.bumpAndBumpSpace()) throw this.err(unclosed);
    }
    if (union.length === 0 && this.char() === "]") {
      union.push(["range", 93, 93]);
      if (!this.bumpAndBumpSpace()) throw this.err(unclosed);
    }
    return [negated, union];
  }

  maybeAsciiClass() {
    const rest = this.p.slice(this.pos, this.pos + 20).join("");
    const m = /^\[:(\^?)([^:]*):\]/.exec(rest);
    if (m && Object.hasOwn(ASCII_CLASSES, m[2])) {
      this.pos += Array.from(m[0]).length;
      return ["ascii", m[2], m[1] === "^"];
    }
    return null;
  }

  parseSetClassItem() {
    if (this.char() === "\\") {
      const r = this.parseEscape(true);
      return r[0] === "lit" ? ["range", r[1], r[1]] : r;
    }
    const cp = this.char().codePointAt(0);
    this.bump();
    return ["range", cp, cp];
  }

  parseSetClassRange() {
    const prim1 = this.parseSetClassItem();
    this.bumpSpace();
    if (this.eof()) throw this.err("unclosed character class");
    const next = this.peekSpace();
    if (this.char() !== "-" || next === "]" || next === "-") return prim1;
    if (!this.bumpAndBumpSpace()) throw this.err("unclosed character class");
    const prim2 = this.parseSetClassItem();
    if (prim1[0] !== "range" || prim2[0] !== "range") throw this.err("invalid range boundary, must be a literal");
    if (prim1[1] > prim2[1]) throw this.err("invalid character class range, the start must be <= the end");
    return ["range", prim1[1], prim2[1]];
  }

  renderClass(cls) {
    if (!this.flags.u) {
      const [text, n] = this.renderByteClass(cls);
      return [text, 64.0151 + 8.0 * Math.max(1, n)];
    }
    const one = this.one(cls);
    if (this.flags.i) this.sawCi = true;
    else this.sawCs = true;
    return [this.flags.i ? this.ci(one) : one, classCost(cls, this.flags.i)];
  }

  // ["body", text inside [...]] or ["x", a regex matching one character].
  renderSet(node) {
    switch (node[0]) {
      case "range": {
        const [, lo, hi] = node;
        return ["body", lo === hi ? esc(lo) : `${esc(lo)}-${esc(hi)}`];
      }
      case "perl": {
        const [, kind, neg] = node;
        const body = this.perlBody(kind);
        if (!neg) return ["body", body];
        if (kind === "d") return ["body", "\\P{Nd}"];
        return ["x", `[^${body}]`];
      }
      case "ascii": {
        const body = rangesBody(ASCII_CLASSES[node[1]]);
        return node[2] ? ["x", `[^${body}]`] : ["body", body];
      }
      case "union": {
        const bodies = [];
        const xs = [];
        for (const item of node[1]) {
          const [k, s] = this.renderSet(item);
          (k === "body" ? bodies : xs).push(s);
        }
        const joined = bodies.join("");
        if (xs.length === 0) return ["body", joined];
        return ["x", `(?:${[...(joined ? [`[${joined}]`] : []), ...xs].join("|")})`];
      }
      case "bracket": {
        const [, neg, inner] = node;
        const [k, s] = this.renderSet(inner);
        if (!neg) return [k, s];
        if (k === "body") return ["x", s ? `[^${s}]` : "[^]"];
        return ["x", `(?:(?!${s})[^])`];
      }
      case "op": {
        const [, kind, lhs, rhs] = node;
        const a = this.one(lhs);
        const b = this.one(rhs);
        if (kind === "and") return ["x", `(?:(?=${a})${b})`];
        if (kind === "minus") return ["x", `(?:(?!${b})${a})`];
        return ["x", `(?:(?!${b})${a}|(?!${a})${b})`];
      }
    }
    throw new Error(node[0]);
  }

  one(node) {
    const [k, s] = this.renderSet(node);
    if (k === "x") return s;
    return s ? `[${s}]` : "(?!)";
  }

  renderByteClass(cls) {
    const s = this.byteSet(cls);
    if (this.flags.i) foldAscii(s);
    if ([...s].some((b) => b > 0x7f)) throw this.err("pattern can match invalid UTF-8");
    if (s.size === 0) return ["(?!)", 0];
    const ranges = merge(s);
    return [`[${rangesBody(ranges)}]`, ranges.length];
  }

  byteSet(node) {
    const all = () => new Set(Array.from({ length: 256 }, (_, b) => b));
    const minus = (a, b) => new Set([...a].filter((x) => !b.has(x)));
    switch (node[0]) {
      case "range":
        if (node[2] > 0x7f) throw this.err("Unicode not allowed here");
        return rangesSet([[node[1], node[2]]]);
      case "perl":
        if (node[2]) throw this.err("pattern can match invalid UTF-8");
        return rangesSet(ASCII_CLASSES[PERL_ASCII[node[1]]]);
      case "ascii": {
        const s = rangesSet(ASCII_CLASSES[node[1]]);
        return node[2] ? minus(all(), s) : s;
      }
      case "union": {
        const out = new Set();
        for (const item of node[1]) for (const b of this.byteSet(item)) out.add(b);
        return out;
      }
      case "bracket": {
        const s = this.byteSet(node[2]);
        if (this.flags.i) foldAscii(s);
        return node[1] ? minus(all(), s) : s;
      }
      case "op": {
        const a = this.byteSet(node[2]);
        const b = this.byteSet(node[3]);
        if (node[1] === "and") return new Set([...a].filter((x) => b.has(x)));
        if (node[1] === "minus") return minus(a, b);
        return new Set([...minus(a, b), ...minus(b, a)]);
      }
    }
    throw new Error(node[0]);
  }
}

function foldAscii(s) {
  for (const b of [...s]) if ((b >= 65 && b <= 90) || (b >= 97 && b <= 122)) s.add(b ^ 0x20);
}

// Compile a Rust `regex` pattern; throws RegexError where Rust would refuse
// it. `.test(text)` is Rust's `is_match`.
export function compileRust(pattern) {
  const first = new Parser(pattern);
  let source = first.parse();
  let flags = "u";
  if (first.sawCi && !first.sawCs) {
    source = new Parser(pattern, true).parse();
    flags = "iu";
  }
  try {
    return new RegExp(source, flags);
  } catch (e) {
    throw new RegexError(`cannot be compiled: ${e.message}`);
  }
}
