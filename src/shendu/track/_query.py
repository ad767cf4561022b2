"""`--filter` expressions, `--sort` keys and `--group-by` over the run database.

    status=completed and (model.name=resnet20 or model.name~resnet*) and val_accuracy.best>=0.9 and tag!=broken

Grammar (`and`, `or`, `not` in any case; `and` binds tighter than `or`)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := unary ("and" unary)*
    unary      := "not" unary | "(" expr ")" | FIELD OP VALUE
    OP         := = | != | > | >= | < | <= | ~          (== is accepted for =)
    VALUE      := number | word | "quoted text" | 'quoted text' | true | false | null

A FIELD is a run column (`status model dataset name sweep id seed`), `tag` (true when any of the run's tags
compares true), a metric (`val_accuracy` = its final value, `val_accuracy.best`, `val_accuracy.final`: a name
without dots, as every metric name is), or else a dotted key into the stored config (`optim.lr`, `data.name`).
`~` is a case-insensitive substring test, or a whole-value glob when the pattern has `*` or `?`. A comparison
with a value the run does not have is false (so `not x>1` holds for runs without x); `=null` holds for absent
(and JSON null) values, `!=null` for present ones. A metric or config key that no run has is an error, with
the nearest names, rather than an empty list.
Config values compare as numbers when both sides are numbers, otherwise as text (`model.args.width=16` and
`model.name=resnet20` both do what they look like).

How it runs (the design choice): metrics live in `run_summary` rows (metric, final, best) indexed on
(metric, final) and maintained with the summary itself, and tags in `run_tags`, so column, tag and metric
comparisons are exact SQL with indexes. Config comparisons need JSON semantics that SQLite and PostgreSQL do
not share (types, booleans, text of numbers), so they are decided in Python. The database still narrows
them: the whole expression is compiled to a WHERE clause that is exact where it can be and a sound
over-approximation elsewhere (a config comparison becomes TRUE, or a plain text equality on the extracted
value), and only the surviving rows are checked in Python, with each config value extracted by the database
(`->` on SQLite, `#>` on PostgreSQL) rather than whole configs parsed in Python. A filter without config
keys never leaves SQL, and its LIMIT is the database's.
"""
from __future__ import annotations

import functools
import json
import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from sqlalchemy import and_, literal, not_, or_, select, true
from sqlalchemy.engine import Row
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Text

from shendu._registry import nearest
from shendu.errors import BadInputError
from shendu.track._schema import STATUSES, Run, RunSummary, RunTag

COLUMNS: dict[str, Any] = {"status": Run.status, "model": Run.model, "dataset": Run.dataset, "name": Run.name,
                           "sweep": Run.sweep, "id": Run.id, "seed": Run.seed}
SORT_ONLY = {"created": Run.created_at}
NUMERIC_COLUMNS = frozenset({"seed"})
SUMMARIES = ("final", "best")
OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "~")
_ORDER: dict[str, Callable[[Any, Any], bool]] = {"=": operator.eq, "!=": operator.ne, ">": operator.gt,
                                                 ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_KEYWORDS = ("and", "or", "not")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*\Z")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\Z")
_OP_CHARS = "=!<>~"
_FIELD_HINT = "a config key (optim.lr), a column (status, model, dataset, tag, name, sweep) or a metric (val_accuracy)"


class FilterError(BadInputError):
    """A filter, sort or group-by key that does not parse; says where, what was expected and what came."""

    def __init__(self, what: str, text: str, position: int, message: str) -> None:
        self.position = position + 1  # 1-based, as people count
        caret = " " * position + "^"
        super().__init__(f"bad {what} at position {self.position}: {message}\n  {text}\n  {caret}")


# -- fields and values ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    """What a name refers to: kind "column", "tag", "metric" or "config"."""

    kind: str
    name: str  # the column, metric, or dotted config key
    summary: str = "final"  # metrics only

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.name.split("."))

    def __str__(self) -> str:
        return f"{self.name}.best" if self.kind == "metric" and self.summary == "best" else self.name


def resolve_field(name: str, *, sort: bool = False) -> Field:
    """The field a (syntactically valid) name refers to; see the module docstring."""
    if name == "tag":
        return Field("tag", name)
    if name in COLUMNS or (sort and name in SORT_ONLY):
        return Field("column", name)
    head, _, tail = name.partition(".")
    if "." not in name or (tail in SUMMARIES and "." not in head):
        return Field("metric", head, tail or "final")
    return Field("config", name)


@dataclass(frozen=True)
class Value:
    """A literal as typed: its text, and its number when it is an unquoted number."""

    text: str
    number: float | None = None
    keyword: str | None = None  # "true", "false" or "null", unquoted

    @classmethod
    def of(cls, text: str, quoted: bool) -> Value:
        if quoted:
            return cls(text)
        if text.lower() in ("true", "false", "null"):
            return cls(text.lower(), keyword=text.lower())
        return cls(text, float(text) if _NUMBER.match(text) else None)

    @property
    def is_null(self) -> bool:
        return self.keyword == "null"

    def like(self) -> str:
        """The `~` pattern as a LIKE pattern (with `\\` as the escape character)."""
        escaped = re.sub(r"([\\%_])", r"\\\1", self.text.lower())
        if "*" in self.text or "?" in self.text:
            return escaped.replace("*", "%").replace("?", "_")
        return f"%{escaped}%"

    def regex(self) -> re.Pattern[str]:
        """The `~` pattern for Python, with the same meaning as `like()`."""
        body = re.escape(self.text)
        if "*" in self.text or "?" in self.text:
            return re.compile(body.replace(r"\*", ".*").replace(r"\?", ".") + r"\Z", re.IGNORECASE | re.DOTALL)
        return re.compile(body, re.IGNORECASE)


# -- the expression tree --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """FIELD OP VALUE; `index` numbers the comparisons of one filter (their column in the candidate rows)."""

    field: Field
    op: str
    value: Value
    index: int


@dataclass(frozen=True)
class Logical:
    op: str  # "and" | "or"
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Negation:
    item: Node


Node = Union[Comparison, Logical, Negation]


# -- tokens ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Token:
    kind: str  # "(", ")", "op", "word", "text" (quoted), "end"
    text: str
    pos: int

    def shown(self) -> str:
        if self.kind == "end":
            return "the end of the filter"
        return f"'{self.text}'" if self.kind != "text" else repr(self.text)


def _tokens(text: str, what: str) -> list[_Token]:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "()":
            out.append(_Token(c, c, i))
            i += 1
        elif c in _OP_CHARS:
            op = text[i:i + 2] if text[i:i + 2] in (">=", "<=", "!=", "==") else c
            if op == "!":
                raise FilterError(what, text, i, "expected '!=' (negate a comparison with 'not'), got '!'")
            out.append(_Token("op", "=" if op == "==" else op, i))
            i += len(op)
        elif c in "'\"":
            end, chars = i + 1, []
            while end < len(text) and text[end] != c:
                if text[end] == "\\" and end + 1 < len(text):
                    end += 1
                chars.append(text[end])
                end += 1
            if end >= len(text):
                raise FilterError(what, text, i, f"unterminated quoted value: expected a closing {c}")
            out.append(_Token("text", "".join(chars), i))
            i = end + 1
        else:
            end = i
            while end < len(text) and not (text[end].isspace() or text[end] in "()'\"" + _OP_CHARS):
                end += 1
            out.append(_Token("word", text[i:end], i))
            i = end
    out.append(_Token("end", "", len(text)))
    return out


# -- the parser -----------------------------------------------------------------------------------------
class _Parser:
    """Recursive descent over the tokens; every error names the position, what was expected and what came."""

    def __init__(self, text: str) -> None:
        self.text, self.what = text, "filter"
        self.tokens, self.at, self.count = _tokens(text, self.what), 0, 0

    def parse(self) -> Node:
        if self.peek.kind == "end":
            self.fail(self.peek, "expected a comparison such as model.name=resnet20, got an empty filter")
        node = self.expr()
        if self.peek.kind != "end":
            self.fail(self.peek, f"expected 'and', 'or' or the end of the filter, got {self.peek.shown()}"
                      + (" (no '(' is open)" if self.peek.kind == ")" else ""))
        return node

    @property
    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def keyword(self, word: str) -> bool:
        if self.peek.kind == "word" and self.peek.text.lower() == word:
            self.at += 1
            return True
        return False

    def fail(self, token: _Token, message: str) -> None:
        raise FilterError(self.what, self.text, token.pos, message)

    def expr(self) -> Node:
        items = [self.conjunction()]
        while self.keyword("or"):
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Logical("or", tuple(items))

    def conjunction(self) -> Node:
        items = [self.unary()]
        while self.keyword("and"):
            items.append(self.unary())
        return items[0] if len(items) == 1 else Logical("and", tuple(items))

    def unary(self) -> Node:
        if self.keyword("not"):
            return Negation(self.unary())
        if self.peek.kind == "(":
            opened = self.take()
            node = self.expr()
            if self.peek.kind != ")":
                self.fail(self.peek, f"expected ')' to close the '(' at position {opened.pos + 1} "
                                     f"(or 'and' / 'or'), got {self.peek.shown()}")
            self.take()
            return node
        return self.comparison()

    def comparison(self) -> Comparison:
        token = self.take()
        if token.kind != "word" or token.text.lower() in _KEYWORDS or not _FIELD.match(token.text):
            self.fail(token, f"expected a field — {_FIELD_HINT} — got {token.shown()}")
        target = resolve_field(token.text)
        op = self.take()
        if op.kind != "op":
            self.fail(op, f"expected an operator ({' '.join(OPERATORS)}) after '{token.text}', got {op.shown()}")
        value = self.take()
        if value.kind not in ("word", "text") or (value.kind == "word" and value.text.lower() in _KEYWORDS):
            hint = " (quote it to compare with that word)" if value.kind == "word" else ""
            self.fail(value, f"expected a value after '{op.text}' (a number, a word, \"quoted text\", true, "
                             f"false or null), got {value.shown()}{hint}")
        literal_ = Value.of(value.text, quoted=value.kind == "text")
        self.check(target, op, literal_, value)
        self.count += 1
        return Comparison(target, op.text, literal_, self.count - 1)

    def check(self, target: Field, op: _Token, value: Value, token: _Token) -> None:
        """Comparisons that can never make sense are errors, not silently empty results."""
        if value.is_null and op.text not in ("=", "!="):
            self.fail(op, f"null compares with = or != only (absent / present), got '{op.text}'")
        if value.is_null:
            return
        numeric = target.kind == "metric" or target.name in NUMERIC_COLUMNS
        if numeric and op.text == "~":
            self.fail(op, f"'~' matches text, and {target} is a number; use = != > >= < <=")
        if numeric and value.number is None:
            self.fail(token, f"{target} is a number; expected a number after '{op.text}', got {token.shown()}")
        if target.kind == "tag" and op.text not in ("=", "!=", "~"):
            self.fail(op, f"tags compare with = != ~ only, got '{op.text}'")
        if target.name == "status" and op.text in ("=", "!=") and value.text not in STATUSES:
            close = nearest(value.text, list(STATUSES))
            hint = f" — did you mean {close[0]!r}?" if close else ""
            self.fail(token, f"unknown status {value.text!r}{hint} (valid: {', '.join(STATUSES)})")


def parse_filter(text: str) -> Node:
    """The expression tree of a `--filter` text (FilterError, exit code 2, when it does not parse)."""
    return _Parser(text).parse()


def comparisons(node: Node) -> list[Comparison]:
    """The comparisons of a tree, in index order."""
    if isinstance(node, Comparison):
        return [node]
    items = node.items if isinstance(node, Logical) else (node.item,)
    return sorted((c for item in items for c in comparisons(item)), key=lambda c: c.index)


@dataclass(frozen=True)
class SortKey:
    field: Field
    descending: bool


def parse_sort(text: str, *, groups: bool = False) -> SortKey:
    """`-val_accuracy` (descending), `optim.lr`, `created`; for groups also `count` and the group key."""
    body = text.strip()
    descending = body.startswith("-")
    body = body.lstrip("+-").strip()
    if not _FIELD.match(body) or body.lower() in _KEYWORDS:
        hint = ("count, the group key or a metric" if groups else
                "created, a column (status, model, …), a metric (val_accuracy.best) or a config key (optim.lr)")
        raise FilterError("sort key", text, max(text.find(body), 0), f"expected {hint}, with '-' for descending")
    if groups and body == "count":
        return SortKey(Field("column", "count"), descending)
    target = resolve_field(body, sort=True)
    if target.kind == "tag" and not groups:
        raise FilterError("sort key", text, 0, "runs cannot be sorted by tag (a run may have several)")
    return SortKey(target, descending)


def parse_group_key(text: str) -> Field:
    """A `--group-by` key: a config key or a column (a metric is what is averaged, not a key)."""
    body = text.strip()
    if not _FIELD.match(body) or body.lower() in _KEYWORDS:
        raise FilterError("group-by key", text, 0, f"expected a config key (model.name) or a column "
                                                  f"({', '.join(COLUMNS)}, tag), got {body!r}")
    target = resolve_field(body)
    if target.kind == "metric":
        raise FilterError("group-by key", text, 0, f"{body!r} is a metric; group by a config key (model.name, "
                                                  "optim.lr) or a column (status, model, dataset, tag, sweep)")
    return target


# -- SQL --------------------------------------------------------------------------------------------------
class _JsonAt(FunctionElement):
    """The value at a config path: its JSON text (`config_json`, decoded in Python by `decode`), or the text of
    a string value (`config_text`); NULL when absent."""

    inherit_cache = True

    def __init__(self, column: Any, path: tuple[str, ...]) -> None:
        sqlite_path = "$" + "".join(f'."{key}"' for key in path)
        super().__init__(column, literal(sqlite_path, Text()), literal("{" + ",".join(path) + "}", Text()))


class config_json(_JsonAt):  # noqa: N801 (a SQL function, named like one)
    type = Text()
    inherit_cache = True


class config_text(_JsonAt):  # noqa: N801
    type = Text()
    inherit_cache = True


@compiles(config_json, "sqlite")
def _value_sqlite(element: _JsonAt, compiler: Any, **kw: Any) -> str:
    column, path, _ = element.clauses  # `->` keeps JSON types: true stays true (json_extract would give 1)
    return f"({compiler.process(column, **kw)} -> {compiler.process(path, **kw)})"


@compiles(config_text, "sqlite")
def _text_sqlite(element: _JsonAt, compiler: Any, **kw: Any) -> str:
    column, path, _ = element.clauses
    return f"json_extract({compiler.process(column, **kw)}, {compiler.process(path, **kw)})"


@compiles(config_json, "postgresql")
def _value_pg(element: _JsonAt, compiler: Any, **kw: Any) -> str:
    column, _, path = element.clauses  # as text: psycopg would otherwise parse every row's value itself
    return f"CAST(({compiler.process(column, **kw)} #> CAST({compiler.process(path, **kw)} AS TEXT[])) AS TEXT)"


@compiles(config_text, "postgresql")
def _text_pg(element: _JsonAt, compiler: Any, **kw: Any) -> str:
    column, _, path = element.clauses
    return f"({compiler.process(column, **kw)} #>> CAST({compiler.process(path, **kw)} AS TEXT[]))"


def _in_summary(name: str, *conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    return Run.id.in_(select(RunSummary.run_id).where(RunSummary.metric == name, *conditions))


def _in_tags(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    return Run.id.in_(select(RunTag.run_id).where(*conditions))


def _exact_sql(c: Comparison) -> ColumnElement[bool]:
    """A two-valued SQL condition with exactly the comparison's meaning (column, tag or metric)."""
    v, positive = c.value, c.op != "!="
    if c.field.kind == "tag":
        if v.is_null:
            return not_(_in_tags()) if positive else _in_tags()
        if c.op == "~":
            return _in_tags(RunTag.tag.ilike(v.like(), escape="\\"))
        has = _in_tags(RunTag.tag == v.text)
        return has if positive else not_(has)
    if c.field.kind == "metric":
        if v.is_null:
            return not_(_in_summary(c.field.name)) if positive else _in_summary(c.field.name)
        return _in_summary(c.field.name, _ORDER[c.op](getattr(RunSummary, c.field.summary), v.number))
    column = COLUMNS[c.field.name]
    if v.is_null:
        return column.is_(None) if positive else column.is_not(None)
    if c.op == "~":
        test = column.ilike(v.like(), escape="\\")
    elif c.field.name in NUMERIC_COLUMNS:
        test = _ORDER[c.op](column, int(v.number) if v.number.is_integer() else v.number)
    else:
        test = _ORDER[c.op](column, v.text)
    return and_(column.is_not(None), test)  # NULL would make NOT(...) drop the row: absent compares false


def _prefilter(c: Comparison) -> ColumnElement[bool] | None:
    """A SQL condition true at least wherever the config comparison is (None: nothing cheaper than TRUE).

    Only `key=text` for text that cannot be the text of a number, boolean, null, list or object: then the
    value must be a JSON string equal to it, which both databases' text extraction decides exactly.
    """
    v = c.value
    text_of_other = _NUMBER.match(v.text) or v.text in ("true", "false", "null") or v.text[:1] in ("[", "{")
    if c.op != "=" or v.keyword or text_of_other:  # (quoted "16" equals the number 16 as text)
        return None
    return config_text(Run.config, c.field.path) == v.text


def _where(node: Node) -> tuple[ColumnElement[bool], bool]:
    """(condition, exact): exact means the condition is the filter; otherwise it contains every match."""
    if isinstance(node, Comparison):
        if node.field.kind != "config":
            return _exact_sql(node), True
        narrowed = _prefilter(node)
        return (true() if narrowed is None else narrowed), False
    if isinstance(node, Negation):
        inner, exact = _where(node.item)
        return (not_(inner), True) if exact else (true(), False)  # NOT of a superset is not a superset
    parts = [_where(item) for item in node.items]
    combine = and_ if node.op == "and" else or_
    return combine(*(part for part, _ in parts)), all(exact for _, exact in parts)


# -- Python ---------------------------------------------------------------------------------------------
def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return json.dumps(value, separators=(",", ":")) if isinstance(value, (list, dict)) else str(value)


@functools.lru_cache(maxsize=4096)
def decode(text: str | None) -> Any:
    """A config value from its JSON text (None when absent); cached, as runs share most values."""
    return None if text is None else json.loads(text)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def json_matches(value: Any, op: str, v: Value) -> bool:
    """The comparison for a config value (None = absent or null); see the module docstring."""
    if v.is_null:
        return (value is None) == (op == "=")
    if value is None:
        return False
    if op == "~":
        return v.regex().search(_text(value)) is not None
    if op in ("=", "!="):
        equal = value == v.number if _is_number(value) and v.number is not None else _text(value) == v.text
        return equal == (op == "=")
    if _is_number(value) and v.number is not None:
        return _ORDER[op](value, v.number)
    if isinstance(value, str) and v.number is None and v.keyword is None:
        return _ORDER[op](value, v.text)
    return False


def _evaluate(node: Node, row: Sequence[Any]) -> bool:
    if isinstance(node, Comparison):
        got = row[node.index]
        return json_matches(decode(got), node.op, node.value) if node.field.kind == "config" else bool(got)
    if isinstance(node, Negation):
        return not _evaluate(node.item, row)
    results = (_evaluate(item, row) for item in node.items)
    return all(results) if node.op == "and" else any(results)


# -- the compiled filter ----------------------------------------------------------------------------------
@dataclass
class Filter:
    """A parsed filter (or none: every run), ready to narrow a query.

    `where` goes into the SQL; when `exact` is false, the rows it selects must also pass `matches(row)`,
    where the row carries `columns()` (one per comparison: its SQL truth value, or the config value).
    """

    text: str | None
    tree: Node | None = None
    where: ColumnElement[bool] = field(default_factory=true)
    exact: bool = True

    @classmethod
    def parse(cls, text: str | None) -> Filter:
        if text is None or not text.strip():
            return cls(None)
        tree = parse_filter(text)
        where, exact = _where(tree)
        return cls(text, tree, where, exact)

    @property
    def comparisons(self) -> list[Comparison]:
        return comparisons(self.tree) if self.tree is not None else []

    def columns(self) -> list[ColumnElement[Any]]:
        """One selected column per comparison (only needed when not `exact`)."""
        return [(config_json(Run.config, c.field.path) if c.field.kind == "config" else _exact_sql(c))
                .label(f"c{c.index}") for c in self.comparisons]

    def matches(self, values: Sequence[Any]) -> bool:
        """Whether a candidate row matches, given the `columns()` values in order."""
        return self.tree is None or _evaluate(self.tree, values)


def value_column(target: Field) -> ColumnElement[Any]:
    """The SQL expression of a field's value per run: a column, a metric's final or best value, or a config
    key's JSON text (decode it with `decode`)."""
    if target.kind == "column":
        return (COLUMNS | SORT_ONLY)[target.name]
    if target.kind == "metric":
        measured = getattr(RunSummary, target.summary)
        return (select(measured).where(RunSummary.run_id == Run.id, RunSummary.metric == target.name)
                .scalar_subquery())
    return config_json(Run.config, target.path)


def _rank(value: Any) -> tuple[Any, ...]:
    """An order over mixed JSON values: numbers, then text, then the rest."""
    if _is_number(value) or isinstance(value, bool):
        return (0, float(value))
    return (1, value) if isinstance(value, str) else (2, _text(value))


def ordered(items: list[Any], value_of: Callable[[Any], Any], descending: bool = False) -> list[Any]:
    """`items` sorted by `value_of(item)`, items without a value last either way; ties keep their order."""
    present = [item for item in items if value_of(item) is not None]
    present.sort(key=lambda item: _rank(value_of(item)), reverse=descending)  # stable with reverse too
    return present + [item for item in items if value_of(item) is None]


# -- listing --------------------------------------------------------------------------------------------
NEWEST_FIRST = (Run.created_at.desc(), Run.id.desc())


def select_ids(session: Session, flt: Filter, sort: SortKey | None, limit: int | None,
               conditions: Iterable[ColumnElement[bool]] = ()) -> list[str]:
    """The ids of the runs matching `flt` and `conditions`, in `sort` order (default newest first)."""
    conditions = [flt.where, *conditions]
    check_names(session, flt, [sort.field] if sort else [])
    in_sql = flt.exact and (sort is None or sort.field.kind != "config")
    if in_sql:  # the whole query is the database's, LIMIT included
        order = list(NEWEST_FIRST)
        if sort is not None:
            key = value_column(sort.field)
            order.insert(0, (key.desc() if sort.descending else key.asc()).nulls_last())
        query = select(Run.id).where(*conditions).order_by(*order)
        return list(session.scalars(query if limit is None else query.limit(limit)))
    extra = [value_column(sort.field).label("sort_key")] if sort is not None else []
    query = select(Run.id, *extra, *flt.columns()).where(*conditions).order_by(*NEWEST_FIRST)
    rows = session.execute(query).all()
    check_paths(session, flt, rows, offset=1 + len(extra))
    kept = [row for row in rows if flt.matches(row[1 + len(extra):])]
    if sort is not None:  # ties stay newest first
        kept = ordered(kept, lambda row: decode(row[1]) if sort.field.kind == "config" else row[1], sort.descending)
    return [row[0] for row in kept[:limit]]


# -- checks that turn silent empty results into errors ----------------------------------------------------
def check_names(session: Session, flt: Filter, extra: Iterable[Field] = ()) -> None:
    """Every metric named must exist in some run (unless the database has no metrics at all)."""
    wanted = {f.name for f in [*(c.field for c in flt.comparisons), *extra] if f.kind == "metric"}
    for name in sorted(wanted):
        if session.scalar(select(RunSummary.metric).where(RunSummary.metric == name).limit(1)) is not None:
            continue
        known = list(session.scalars(select(RunSummary.metric).distinct().order_by(RunSummary.metric).limit(200)))
        if not known:
            return
        close = nearest(name, known)
        hint = f" — did you mean {' or '.join(repr(k) for k in close)}?" if close else ""
        raise BadInputError(f"no run has a metric {name!r}{hint} (metrics: {', '.join(known[:15])}"
                            f"{', …' if len(known) > 15 else ''}); config keys are dotted, e.g. optim.lr")


def check_paths(session: Session, flt: Filter, rows: Sequence[Row], offset: int) -> None:
    """A config key that no candidate has may be a typo: `check_key` it."""
    for c in flt.comparisons:
        if c.field.kind == "config" and all(row[offset + c.index] is None for row in rows):
            check_key(session, c.field.name)


def check_key(session: Session, key: str) -> None:
    """Raise, with the nearest keys of the newest run's config, when no run's config has `key`."""
    from shendu.track._report import flatten

    path = tuple(key.split("."))
    if session.scalar(select(Run.id).where(config_json(Run.config, path).is_not(None)).limit(1)) is not None:
        return
    config = session.scalar(select(Run.config).order_by(*NEWEST_FIRST).limit(1))
    keys = list(flatten(config or {}))
    if not keys:
        return
    close = nearest(key, keys)
    hint = f" — did you mean {' or '.join(repr(k) for k in close)}?" if close else ""
    shown = ", ".join(keys[:12]) + (", …" if len(keys) > 12 else "")
    raise BadInputError(f"unknown config key {key!r}{hint} (the newest run's config has: {shown})")


# -- grouping ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stats:
    """Mean and sample standard deviation (ddof=1; None for a single run) of one metric's final values."""

    n: int
    mean: float
    std: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        n = len(values)
        mean = math.fsum(values) / n
        std = math.sqrt(math.fsum((x - mean) ** 2 for x in values) / (n - 1)) if n > 1 else None
        return cls(n, mean, std)


@dataclass(frozen=True)
class RunGroup:
    """The runs sharing one value of the group-by key: how many, and mean ± std of each metric."""

    key: Any
    count: int
    metrics: dict[str, Stats]
    run_ids: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "count": self.count, "run_ids": self.run_ids,
                "metrics": {name: {"n": s.n, "mean": s.mean, "std": s.std} for name, s in self.metrics.items()}}


def group_runs(session: Session, flt: Filter, by: Field, *, sort: SortKey | None = None, limit: int | None = None,
               metrics: Sequence[str] | None = None, conditions: Iterable[ColumnElement[bool]] = ()) -> list[RunGroup]:
    """Group the runs matching `flt` by `by`; mean ± std of each summary metric's final value per group."""
    conditions = [flt.where, *conditions]
    extra = [Field("metric", m) for m in metrics or ()]
    check_names(session, flt, extra + ([sort.field] if sort and sort.field.kind == "metric" else []))
    key_column = [] if by.kind == "tag" else [value_column(by).label("group_key")]
    rows = session.execute(select(Run.id, *key_column, *flt.columns()).where(*conditions)
                           .order_by(*NEWEST_FIRST)).all()
    offset = 1 + len(key_column)
    check_paths(session, flt, rows, offset)
    if by.kind == "config" and all(row[1] is None for row in rows):
        check_key(session, by.name)
    keys = {row[0]: [row[1]] if key_column else [] for row in rows if flt.matches(row[offset:])}
    if by.kind == "tag":
        for run_id, tag in session.execute(select(RunTag.run_id, RunTag.tag).where(
                RunTag.run_id.in_(select(Run.id).where(*conditions))).order_by(RunTag.tag)):
            if run_id in keys:
                keys[run_id].append(tag)
        keys = {run_id: tags or [None] for run_id, tags in keys.items()}
    elif by.kind == "config":
        keys = {run_id: [decode(text) for text in texts] for run_id, texts in keys.items()}
    groups, of_run = _members(keys)
    query = select(RunSummary.run_id, RunSummary.metric, RunSummary.final).where(
        RunSummary.run_id.in_(select(Run.id).where(*conditions)))
    if metrics:
        query = query.where(RunSummary.metric.in_(list(metrics)))
    for run_id, metric, final in session.execute(query):
        for values in of_run.get(run_id, ()):
            values.setdefault(metric, []).append(final)
    return _sorted_groups([RunGroup(key, len(ids), {m: Stats.of(v) for m, v in sorted(values.items())}, ids)
                           for key, ids, values in groups], by, sort)[:limit]


def _members(keys: dict[str, list[Any]]) -> tuple[list[tuple[Any, list[str], dict[str, list[float]]]],
                                                   dict[str, list[dict[str, list[float]]]]]:
    """[(key, run ids, {metric: finals})] per distinct key, and each run's {metric: finals} buckets."""
    groups: dict[tuple[str, str], tuple[Any, list[str], dict[str, list[float]]]] = {}
    of_run: dict[str, list[dict[str, list[float]]]] = {}
    for run_id, run_keys in keys.items():
        for key in run_keys:
            identity = (type(key).__name__, _text(key))  # lists and dicts group by their JSON; 1 and true differ
            group = groups.setdefault(identity, (key, [], {}))
            group[1].append(run_id)
            of_run.setdefault(run_id, []).append(group[2])
    return list(groups.values()), of_run


def _sorted_groups(groups: list[RunGroup], by: Field, sort: SortKey | None) -> list[RunGroup]:
    groups = ordered(groups, lambda g: g.key)
    if sort is None:
        return groups
    target = sort.field
    if target.name == "count":
        return ordered(groups, lambda g: g.count, sort.descending)
    if target.kind == "metric" and target.summary == "final":
        return ordered(groups, lambda g: g.metrics[target.name].mean if target.name in g.metrics else None,
                       sort.descending)
    if target == by:
        return ordered(groups, lambda g: g.key, sort.descending)
    raise BadInputError(f"groups sort by count, the group key ({by}) or a metric's mean (e.g. -val_accuracy), "
                        f"got {sort.field}")
