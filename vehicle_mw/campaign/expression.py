"""The condition language: parsed into a small immutable tree, never ``eval``'d.

Grammar (lowest precedence first)::

    expr  := and ('or' and)*
    and   := not ('and' not)*
    not   := 'not' not | cmp
    cmp   := sum (('<' | '<=' | '>' | '>=' | '==' | '!=') sum)?      -- not chained
    sum   := prod (('+' | '-') prod)*
    prod  := unary (('*' | '/') unary)*
    unary := ('-' | '+') unary | atom
    atom  := NUMBER | 'true' | 'false' | NAME | FUNC '(' args ')' | '(' expr ')'

NAME is a signal: dot-joined identifiers (``ESP_01.Speed``, ``Vehicle.Speed``). Trees are bounded in
depth and node count so a hostile document cannot exhaust the vehicle; every error names the
campaign, the 1-based character position and the reason.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from vehicle_mw.campaign.errors import ExpressionError

MAX_DEPTH = 64
MAX_NODES = 512
MAX_CHARS = 4096
MAX_WINDOW_MS = 24 * 3600 * 1000

COMPARISONS = ("<=", ">=", "==", "!=", "<", ">")
WINDOW_FUNCTIONS = tuple(
    f"{when}_window_{agg}" for when in ("last", "previous") for agg in ("min", "max", "avg")
)
# name -> (min args, max args, whether the first argument must be a signal name)
FUNCTIONS: dict[str, tuple[int, int, bool]] = {
    "abs": (1, 1, False),
    "min": (2, 16, False),
    "max": (2, 16, False),
    "changed": (1, 1, True),
    "is_null": (1, 2, True),
    **{f: (2, 2, True) for f in WINDOW_FUNCTIONS},
}
KEYWORDS = ("and", "or", "not", "true", "false")

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
    r"|(?P<op><=|>=|==|!=|[<>+\-*/(),]))"
)


@dataclass(frozen=True)
class Num:
    value: float
    pos: int


@dataclass(frozen=True)
class Signal:
    name: str
    pos: int


@dataclass(frozen=True)
class Unary:
    op: str  # "-" or "not"
    operand: Node
    pos: int


@dataclass(frozen=True)
class Binary:
    op: str  # + - * / < <= > >= == != and or
    left: Node
    right: Node
    pos: int


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Node, ...]
    pos: int


Node = Num | Signal | Unary | Binary | Call


def walk(node: Node):
    """Every node of the tree, parents before children."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, Unary):
            stack.append(n.operand)
        elif isinstance(n, Binary):
            stack.extend((n.right, n.left))
        elif isinstance(n, Call):
            stack.extend(reversed(n.args))


def signal_names(node: Node) -> list[str]:
    """Signals the expression reads, in first-use order."""
    seen: dict[str, None] = {}
    for n in walk(node):
        if isinstance(n, Signal):
            seen.setdefault(n.name)
    return list(seen)


def to_text(node: Node) -> str:
    """A fully parenthesised text of the tree (parses back to the same tree, positions aside)."""
    if isinstance(node, Num):
        return repr(node.value)
    if isinstance(node, Signal):
        return node.name
    if isinstance(node, Unary):
        return f"({node.op} {to_text(node.operand)})" if node.op == "not" else f"(-{to_text(node.operand)})"
    if isinstance(node, Binary):
        return f"({to_text(node.left)} {node.op} {to_text(node.right)})"
    return f"{node.func}({', '.join(to_text(a) for a in node.args)})"


def _deepest(tree: Node) -> Node | None:
    """The first node below MAX_DEPTH levels (a long a+b+c+... chain is deep too), or None."""
    stack = [(tree, 1)]
    while stack:
        n, d = stack.pop()
        if d > MAX_DEPTH:
            return n
        if isinstance(n, Unary):
            stack.append((n.operand, d + 1))
        elif isinstance(n, Binary):
            stack.extend(((n.left, d + 1), (n.right, d + 1)))
        elif isinstance(n, Call):
            stack.extend((a, d + 1) for a in n.args)
    return None


class _Parser:
    def __init__(self, text: str, campaign: str | None) -> None:
        self.text = text
        self.campaign = campaign
        self.tokens = self._tokenize()
        self.i = 0
        self.depth = 0
        self.nodes = 0

    def fail(self, pos: int, reason: str) -> ExpressionError:
        return ExpressionError(reason, position=pos + 1, text=self.text, campaign=self.campaign)

    def _tokenize(self) -> list[tuple[str, str, int]]:
        out = []
        pos = 0
        text = self.text
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if not m or m.lastgroup is None:
                bad = pos + (len(text[pos:]) - len(text[pos:].lstrip()))
                raise self.fail(bad, f"unexpected character {text[bad]!r}")
            kind = m.lastgroup
            start = m.start(kind)
            value = m.group(kind)
            if kind == "name" and value in KEYWORDS:
                kind = "kw"
            out.append((kind, value, start))
            pos = m.end()
        out.append(("end", "", len(text)))
        return out

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i]

    def take(self) -> tuple[str, str, int]:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, value: str, what: str) -> None:
        kind, val, pos = self.take()
        if val != value or kind not in ("op", "kw"):
            found = "the end of the expression" if kind == "end" else repr(val)
            raise self.fail(pos, f"expected {what}, found {found}")

    def node(self, n: Node) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(n.pos, f"expression has more than {MAX_NODES} nodes")
        return n

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(pos, f"expression nested more than {MAX_DEPTH} levels deep")

    def parse(self) -> Node:
        if len(self.text) > MAX_CHARS:
            raise self.fail(MAX_CHARS, f"expression longer than {MAX_CHARS} characters")
        if self.peek()[0] == "end":
            raise self.fail(0, "empty expression")
        tree = self.parse_or()
        kind, val, pos = self.peek()
        if kind != "end":
            raise self.fail(pos, f"unexpected {val!r} after a complete expression")
        deep = _deepest(tree)
        if deep is not None:
            raise self.fail(deep.pos, f"expression tree deeper than {MAX_DEPTH} levels")
        return tree

    def _binary_chain(self, ops: tuple[str, ...], sub) -> Node:
        left = sub()
        while self.peek()[1] in ops and self.peek()[0] in ("op", "kw"):
            _, op, pos = self.take()
            right = sub()
            left = self.node(Binary(op, left, right, pos))
        return left

    def parse_or(self) -> Node:
        return self._binary_chain(("or",), self.parse_and)

    def parse_and(self) -> Node:
        return self._binary_chain(("and",), self.parse_not)

    def parse_not(self) -> Node:
        kind, val, pos = self.peek()
        if kind == "kw" and val == "not":
            self.take()
            self.enter(pos)
            operand = self.parse_not()
            self.depth -= 1
            return self.node(Unary("not", operand, pos))
        return self.parse_cmp()

    def parse_cmp(self) -> Node:
        left = self.parse_sum()
        kind, op, pos = self.peek()
        if kind == "op" and op in COMPARISONS:
            self.take()
            right = self.parse_sum()
            k2, op2, pos2 = self.peek()
            if k2 == "op" and op2 in COMPARISONS:
                raise self.fail(pos2, "comparisons cannot be chained; join them with 'and'")
            return self.node(Binary(op, left, right, pos))
        return left

    def parse_sum(self) -> Node:
        return self._binary_chain(("+", "-"), self.parse_prod)

    def parse_prod(self) -> Node:
        return self._binary_chain(("*", "/"), self.parse_unary)

    def parse_unary(self) -> Node:
        kind, val, pos = self.peek()
        if kind == "op" and val in ("-", "+"):
            self.take()
            self.enter(pos)
            operand = self.parse_unary()
            self.depth -= 1
            return operand if val == "+" else self.node(Unary("-", operand, pos))
        return self.parse_atom()

    def parse_atom(self) -> Node:
        kind, val, pos = self.take()
        if kind == "num":
            value = float(val)
            if not math.isfinite(value):
                raise self.fail(pos, f"number {val} is out of range")
            return self.node(Num(value, pos))
        if kind == "kw" and val in ("true", "false"):
            return self.node(Num(1.0 if val == "true" else 0.0, pos))
        if kind == "name":
            if self.peek()[1] == "(" and self.peek()[0] == "op":
                return self.parse_call(val, pos)
            return self.node(Signal(val, pos))
        if kind == "op" and val == "(":
            self.enter(pos)
            inner = self.parse_or()
            self.depth -= 1
            self.expect(")", "')' closing the '(' at character " + str(pos + 1))
            return inner
        found = "the end of the expression" if kind == "end" else repr(val)
        raise self.fail(pos, f"expected a number, a signal, a function or '(', found {found}")

    def parse_call(self, func: str, pos: int) -> Node:
        if func not in FUNCTIONS:
            raise self.fail(pos, f"unknown function {func!r} (known: {', '.join(sorted(FUNCTIONS))})")
        self.take()  # (
        self.enter(pos)
        args: list[Node] = []
        if self.peek()[1] != ")":
            args.append(self.parse_or())
            while self.peek()[1] == "," and self.peek()[0] == "op":
                self.take()
                args.append(self.parse_or())
        self.expect(")", f"',' or ')' in the arguments of {func}")
        self.depth -= 1
        lo, hi, signal_first = FUNCTIONS[func]
        if not lo <= len(args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise self.fail(pos, f"{func} takes {want} arguments, got {len(args)}")
        if signal_first and not isinstance(args[0], Signal):
            raise self.fail(pos, f"the first argument of {func} must be a signal name")
        if func == "is_null" or func in WINDOW_FUNCTIONS:
            for a in args[1:]:
                if not isinstance(a, Num) or not 0 < a.value <= MAX_WINDOW_MS or a.value != int(a.value):
                    what = "timeout" if func == "is_null" else "window"
                    raise self.fail(
                        getattr(a, "pos", pos),
                        f"the {what} of {func} must be a whole number of milliseconds 1..{MAX_WINDOW_MS}",
                    )
        return self.node(Call(func, tuple(args), pos))


def parse_expression(text: str, campaign: str | None = None) -> Node:
    """Parse ``text`` into a tree; :class:`ExpressionError` names campaign, position and reason."""
    return _Parser(text, campaign).parse()


__all__ = [
    "Binary",
    "Call",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_NODES",
    "Node",
    "Num",
    "Signal",
    "Unary",
    "WINDOW_FUNCTIONS",
    "parse_expression",
    "signal_names",
    "to_text",
    "walk",
]
