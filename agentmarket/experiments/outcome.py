"""Outcome expressions: which runs of a sweep show an event, e.g. ``"grid.binding.first <= 2027"``.

An expression compares run summaries (``entity.metric.stat``, see
:func:`agentmarket.experiments.runner.summarise`) with numbers or with each other, and joins
comparisons with ``and``, ``or``, ``not`` and parentheses::

    grid.binding.first <= 2027
    lab_a.exited.max > 0 or lab_b.exited.max > 0
    memory.binding.months_2026 >= 6 and not (market.compute_price.max > 4)

It is parsed by a small recursive-descent parser, never evaluated as Python. A summary that
is NaN (``first`` of a metric that is never non-zero) makes every comparison false but ``!=``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from agentmarket.errors import InputError

COMPARISONS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
KEYWORDS = {"and", "or", "not"}
TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![A-Za-z_])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_][A-Za-z0-9_\-]*)*)"
    r"|(?P<op><=|>=|==|!=|<|>)"
    r"|(?P<paren>[()])"
    r"|(?P<bool>&&|\|\||&|\|)"
    r")"
)


@dataclass(frozen=True)
class Token:
    """One piece of an expression: its kind (number, name, op, paren, and, or, not), text and place."""

    kind: str
    text: str
    at: int


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``; anything else is an :class:`InputError` naming the place."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            start = len(text) - len(text[pos:].lstrip())
            raise InputError(f"--outcome {text!r}: cannot read {text[start : start + 12]!r} at character {start + 1}")
        kind = match.lastgroup or ""
        piece = match.group(kind)
        at = match.start(kind)
        if kind == "name" and piece.lower() in KEYWORDS:
            kind = piece.lower()
        elif kind == "bool":
            kind = "and" if piece.startswith("&") else "or"
        tokens.append(Token(kind, piece, at))
        pos = match.end()
    return tokens


@dataclass(frozen=True)
class Comparison:
    """``left OP right``, each side an outcome name or a number."""

    left: str | float
    op: str
    right: str | float


@dataclass(frozen=True)
class Not:
    """The negation of an expression."""

    term: Expr


@dataclass(frozen=True)
class BoolOp:
    """``and`` or ``or`` of two or more expressions."""

    op: str
    terms: tuple[Expr, ...]


Expr = Comparison | Not | BoolOp


class Parser:
    """Recursive descent: ``or`` binds loosest, then ``and``, then ``not``, then a comparison."""

    def __init__(self, text: str) -> None:
        """Tokenize ``text``; :meth:`parse` reads it."""
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0

    def fail(self, what: str) -> InputError:
        """A one-line error naming what was expected and where."""
        if self.pos < len(self.tokens):
            tok = self.tokens[self.pos]
            return InputError(f"--outcome {self.text!r}: expected {what} at {tok.text!r} (character {tok.at + 1})")
        return InputError(f"--outcome {self.text!r}: expected {what} at the end")

    def peek(self) -> Token | None:
        """The next token, or ``None`` at the end."""
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, kind: str) -> Token | None:
        """Consume and return the next token if it is of ``kind``."""
        tok = self.peek()
        if tok is not None and tok.kind == kind:
            self.pos += 1
            return tok
        return None

    def parse(self) -> Expr:
        """The whole expression; trailing tokens are an error."""
        if not self.tokens:
            raise InputError(
                "--outcome is empty: give a comparison such as 'grid.binding.first <= 2027' "
                "(operators <, <=, >, >=, ==, !=; join with and, or, not)"
            )
        expr = self.parse_or()
        if self.peek() is not None:
            raise self.fail("'and', 'or' or the end")
        return expr

    def parse_or(self) -> Expr:
        """Terms joined by ``or``."""
        terms = [self.parse_and()]
        while self.take("or"):
            terms.append(self.parse_and())
        return terms[0] if len(terms) == 1 else BoolOp("or", tuple(terms))

    def parse_and(self) -> Expr:
        """Factors joined by ``and``."""
        terms = [self.parse_not()]
        while self.take("and"):
            terms.append(self.parse_not())
        return terms[0] if len(terms) == 1 else BoolOp("and", tuple(terms))

    def parse_not(self) -> Expr:
        """``not`` factor, a parenthesised expression, or a comparison."""
        if self.take("not"):
            return Not(self.parse_not())
        if self._next_is("("):
            self.pos += 1
            expr = self.parse_or()
            if not self._next_is(")"):
                raise self.fail("')'")
            self.pos += 1
            return expr
        return self.parse_comparison()

    def _next_is(self, text: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.text == text

    def parse_operand(self) -> str | float:
        """An outcome name or a number."""
        tok = self.take("name") or self.take("number")
        if tok is None:
            raise self.fail("an outcome name (entity.metric.stat) or a number")
        return tok.text if tok.kind == "name" else float(tok.text)

    def parse_comparison(self) -> Comparison:
        """``operand OP operand``."""
        left = self.parse_operand()
        op = self.take("op")
        if op is None:
            raise self.fail("a comparison operator (<, <=, >, >=, ==, !=)")
        right = self.parse_operand()
        return Comparison(left, op.text, right)


def parse_outcome(text: str) -> Expr:
    """The parsed form of an outcome expression, or a one-line :class:`InputError`."""
    return Parser(text).parse()


def names_in(expr: Expr) -> list[str]:
    """The outcome names an expression reads, in order of appearance."""
    if isinstance(expr, Comparison):
        return [side for side in (expr.left, expr.right) if isinstance(side, str)]
    if isinstance(expr, Not):
        return names_in(expr.term)
    return [name for term in expr.terms for name in names_in(term)]


def allowed_outcomes(columns: Iterable[str]) -> str:
    """The outcomes of a table, compactly: ``entity.metric.{stat,stat,...}`` per kept metric."""
    stats: dict[str, list[str]] = {}
    for column in columns:
        base, _, stat = column.rpartition(".")
        stats.setdefault(base, []).append(stat)
    return "; ".join(f"{base}.{{{','.join(s)}}}" for base, s in stats.items())


def check_names(expr: Expr, outcomes: pd.DataFrame, text: str) -> None:
    """Every name of ``expr`` must be a column of ``outcomes``; else one line naming the allowed ones."""
    unknown = [name for name in names_in(expr) if name not in outcomes.columns]
    if unknown:
        raise InputError(
            f"--outcome {text!r}: unknown outcome {unknown[0]!r}; allowed: {allowed_outcomes(outcomes.columns)}"
        )


def _side(value: str | float, outcomes: pd.DataFrame) -> np.ndarray:
    if isinstance(value, str):
        return outcomes[value].to_numpy(dtype=np.float64)
    return np.full(len(outcomes), value, dtype=np.float64)


def evaluate(expr: Expr, outcomes: pd.DataFrame) -> np.ndarray:
    """A boolean per row of ``outcomes`` (one row per run, one column per outcome)."""
    if isinstance(expr, Comparison):
        with np.errstate(invalid="ignore"):
            return COMPARISONS[expr.op](_side(expr.left, outcomes), _side(expr.right, outcomes))
    if isinstance(expr, Not):
        return ~evaluate(expr.term, outcomes)
    parts = [evaluate(term, outcomes) for term in expr.terms]
    combine = np.logical_and if expr.op == "and" else np.logical_or
    return combine.reduce(parts)


def select_runs(text: str, outcomes: pd.DataFrame) -> np.ndarray:
    """Which runs an expression holds for; it must name known outcomes and split the runs.

    An expression true for no run or for every run leaves nothing to discover: it is bad
    input, reported with the count matched.
    """
    expr = parse_outcome(text)
    check_names(expr, outcomes, text)
    hit = evaluate(expr, outcomes)
    n, k = len(hit), int(hit.sum())
    if k == 0 or k == n:
        which = "no run" if k == 0 else "every run"
        raise InputError(
            f"--outcome {text!r} holds for {which} ({k} of {n}); "
            "scenario discovery needs an outcome some runs show and others do not"
        )
    return hit
