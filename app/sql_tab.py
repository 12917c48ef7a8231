"""The SQL tab: analysts type a SELECT, the guard releases what it may of the answer.

The typed text is never executed. sqlglot parses it (DuckDB dialect), :func:`parse_query`
checks it against a short list of what is allowed and turns it into a
:class:`SqlQuery`: one allowed table, plain grouping columns, ``count(*)`` /
``count(distinct <identifier>)``, ``sum`` / ``avg`` of numeric columns, and a WHERE that
is a *cohort* (an AND of conditions, each on one column). :func:`run_query` then writes
its own SQL from that cohort, with quoted names and every value as a bound parameter,
and runs it on the read-only connection. What is executed is therefore exactly what the
guard reasons about: there is no second reading of the analyst's text that could differ.

The rule for the answer: each output row is the cohort "WHERE and these grouping values".
Rows cover every value the grouping columns take in the whole table (an empty group is a
zero, not a missing row, so the set of rows tells nothing), the guard releases the table
of counts like any other (suppression under k, complementary suppression, memory of
earlier answers, also the sum of the rows), and a sum or average is shown only beside a
released count, which is at least k. A WHERE that is not a cohort (an OR or NOT across
columns, a comparison between columns, a function call) is refused rather than
approximated.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import product

import duckdb
import sqlglot
from sqlglot import exp

from app.guard import Cohort, CountTable, Group, Guard, GuardedTable, ValueSet
from app.queries import BLANK, Columns, close, quote_ident
from synth.errors import QueryRefused

log = logging.getLogger(__name__)

MAX_GROUPS = 400  # the most rows an answer may have (every combination of grouping values)


class SqlRefused(QueryRefused):
    """Raised when a typed query is not one the SQL tab answers; the message says why."""


@dataclass(frozen=True)
class SqlSchema:
    """What the SQL tab allows, for one dataset.

    Attributes:
        tables: Allowed table names (schema-qualified, lower case).
        cols: The explorer's view of the configuration (thresholds, diagnoses, ranges).
        identifier: The person identifier column (only ``count(distinct ...)`` of it).
        numeric: Numeric columns ``sum`` and ``avg`` may use.
        domains: Every value of each column a query may filter or group on (blank
            included), for the whole table.
    """

    tables: tuple[str, ...]
    cols: Columns
    identifier: str | None
    numeric: frozenset[str]
    domains: Mapping[str, tuple] = field(default_factory=dict)


@dataclass(frozen=True)
class Output:
    """One output column: a grouping column, ``count``, ``sum`` or ``avg``."""

    name: str
    kind: str
    column: str | None = None


@dataclass(frozen=True)
class SqlQuery:
    """A checked query: one table, a cohort, grouping columns and output columns."""

    table: str
    cohort: Cohort
    group_by: tuple[str, ...]
    outputs: tuple[Output, ...]


# ---------------------------------------------------------------------------------------
# Checking the typed text

_REFUSED_NODES: tuple[tuple[type, str], ...] = (
    (exp.Window, "window functions (OVER) can single out rows"),
    (exp.Subquery, "subqueries are not allowed; write one query over one table"),
    (exp.Join, "joins are not allowed; query one table"),
    (exp.With, "WITH clauses are not allowed; write one query over one table"),
    (exp.Having, "HAVING is not allowed: it can pick out small groups"),
    (exp.Limit, "LIMIT is not allowed on counts"),
    (exp.Offset, "OFFSET is not allowed on counts"),
    (exp.Qualify, "QUALIFY is not allowed"),
    (exp.Lateral, "LATERAL is not allowed"),
    (exp.Unnest, "UNNEST is not allowed"),
)

_FLIP = {exp.GT: exp.LT, exp.GTE: exp.LTE, exp.LT: exp.GT, exp.LTE: exp.GTE, exp.EQ: exp.EQ}
_OPS: dict[type, tuple[str, Callable]] = {
    exp.GT: (">", operator.gt),
    exp.GTE: (">=", operator.ge),
    exp.LT: ("<", operator.lt),
    exp.LTE: ("<=", operator.le),
    exp.EQ: ("=", operator.eq),
    exp.NEQ: ("<>", operator.ne),
}
_NEGATED = {">=": "<", ">": "<=", "<=": ">", "<": ">="}


def parse_query(text: str, schema: SqlSchema) -> SqlQuery:
    """Check a typed query and turn it into a :class:`SqlQuery`.

    Args:
        text: What the analyst typed.
        schema: What is allowed.

    Returns:
        The query the guard can reason about.

    Raises:
        SqlRefused: With the reason, for anything outside the allowed form.
    """
    try:
        statements = [s for s in sqlglot.parse(text, read="duckdb") if s is not None]
    except sqlglot.errors.SqlglotError as exc:
        raise SqlRefused(f"The query could not be read as SQL ({_first_line(exc)}).") from None
    if len(statements) != 1:
        raise SqlRefused("Type exactly one SELECT statement.")
    stmt = statements[0]
    if isinstance(stmt, exp.SetOperation):
        raise SqlRefused("UNION, EXCEPT and INTERSECT are not allowed: they can isolate groups.")
    if not isinstance(stmt, exp.Select):
        raise SqlRefused("Only SELECT statements are allowed.")
    for kind, reason in _REFUSED_NODES:
        if stmt.find(kind) is not None:
            raise SqlRefused(f"Refused: {reason}.")
    if len(list(stmt.find_all(exp.Select))) > 1:
        raise SqlRefused("Refused: subqueries are not allowed; write one query over one table.")
    if stmt.args.get("distinct"):
        raise SqlRefused("SELECT DISTINCT lists values row by row; count people instead.")
    table = _table(stmt, schema)
    group_by = _group_by(stmt, schema)
    outputs = _outputs(stmt, schema, group_by)
    where = stmt.args.get("where")
    cohort = Cohort()
    if where is not None:
        cohort = _cohort(where.this, schema)
    return SqlQuery(table, close(cohort, schema.cols), group_by, outputs)


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__


def _table(stmt: exp.Select, schema: SqlSchema) -> str:
    source = stmt.args.get("from_") or stmt.args.get("from")
    if source is None:
        raise SqlRefused(f"Name a table after FROM: one of {', '.join(schema.tables)}.")
    node = source.this
    if not isinstance(node, exp.Table) or not isinstance(node.this, exp.Identifier):
        raise SqlRefused("FROM must name one table, not a function or an expression.")
    name = ".".join(p for p in (node.catalog, node.db, node.name) if p).lower()
    if name not in schema.tables:
        raise SqlRefused(f"The table {name} is not allowed; use one of {', '.join(schema.tables)}.")
    return name


def _column_name(node: exp.Expression, schema: SqlSchema) -> str:
    if not isinstance(node, exp.Column):
        raise SqlRefused(f"Expected a column name, found {node.sql('duckdb')[:60]!r}.")
    return node.name


def _group_by(stmt: exp.Select, schema: SqlSchema) -> tuple[str, ...]:
    group = stmt.args.get("group")
    if group is None:
        return ()
    if group.args.get("all") or not group.expressions:
        raise SqlRefused("Name the grouping columns (GROUP BY ALL is not allowed).")
    names = []
    for node in group.expressions:
        name = _column_name(node, schema)
        if name not in schema.domains or name == schema.identifier:
            raise SqlRefused(
                f"Grouping by {name} is not allowed; group by one of "
                f"{', '.join(sorted(schema.domains))}."
            )
        names.append(name)
    return tuple(dict.fromkeys(names))


def _outputs(stmt: exp.Select, schema: SqlSchema, group_by: tuple[str, ...]) -> tuple[Output, ...]:
    outputs = []
    for node in stmt.expressions:
        alias = node.alias_or_name if isinstance(node, exp.Alias) else None
        inner = node.this if isinstance(node, exp.Alias) else node
        if isinstance(inner, exp.Column):
            name = inner.name
            if name not in group_by:
                raise SqlRefused(
                    f"{name} is shown row by row; only grouping columns and counts are allowed."
                )
            outputs.append(Output(alias or name, "group", name))
        elif isinstance(inner, exp.Count):
            outputs.append(Output(alias or "count", "count", None))
            arg = inner.this
            if isinstance(arg, exp.Star):
                continue
            distinct = isinstance(arg, exp.Distinct) and len(arg.expressions) == 1
            target = arg.expressions[0] if distinct else None
            if not (isinstance(target, exp.Column) and target.name == schema.identifier):
                raise SqlRefused(
                    "Only count(*) and count(distinct <person id>) are allowed; filter with "
                    "WHERE <column> IS NOT NULL to count people with a value."
                )
        elif isinstance(inner, exp.Sum | exp.Avg):
            arg = inner.this
            if not isinstance(arg, exp.Column) or arg.name not in schema.numeric:
                raise SqlRefused(
                    "sum and avg take one numeric column: one of "
                    f"{', '.join(sorted(schema.numeric))}."
                )
            kind = "sum" if isinstance(inner, exp.Sum) else "avg"
            outputs.append(Output(alias or f"{kind}_{arg.name}", kind, arg.name))
        elif isinstance(inner, exp.Min | exp.Max):
            raise SqlRefused("min and max are not allowed: they show one person's value.")
        elif isinstance(
            inner, exp.ArrayAgg | exp.GroupConcat | exp.AnyValue | exp.First | exp.Last
        ) or (isinstance(inner, exp.Anonymous) and "agg" in inner.name.lower()):
            raise SqlRefused("List and string aggregates are not allowed: they show row values.")
        elif isinstance(inner, exp.Binary | exp.Unary | exp.Paren) and inner.find(exp.AggFunc):
            raise SqlRefused("Arithmetic on aggregates is not allowed; select the counts as such.")
        elif isinstance(inner, exp.Star):
            raise SqlRefused("SELECT * lists rows; count people instead (count(*)).")
        else:
            raise SqlRefused(
                f"{inner.sql('duckdb')[:60]!r} is not allowed; select grouping columns, "
                "count(*), sum(<column>) or avg(<column>)."
            )
    if not any(o.kind == "count" for o in outputs) and any(
        o.kind in ("sum", "avg") for o in outputs
    ):
        outputs.insert(0, Output("count", "count"))  # a sum is shown only beside its count
    if not any(o.kind == "count" for o in outputs):
        raise SqlRefused("Select at least one count, for example count(*).")
    return tuple(outputs)


# ---------------------------------------------------------------------------------------
# WHERE as a cohort: each condition on one column gives (values where true, where false)


def _literal(node: exp.Expression):
    if isinstance(node, exp.Paren):
        return _literal(node.this)
    if isinstance(node, exp.Neg):
        value = _literal(node.this)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return -value
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        text = node.this
        try:
            return int(text)
        except ValueError:
            return float(text)
    raise SqlRefused(f"Expected a value, found {node.sql('duckdb')[:60]!r}.")


@dataclass
class _Cond:
    key: str
    true: frozenset
    false: frozenset


def _cohort(node: exp.Expression, schema: SqlSchema) -> Cohort:
    if isinstance(node, exp.Paren):
        return _cohort(node.this, schema)
    if isinstance(node, exp.And):
        return _cohort(node.left, schema) & _cohort(node.right, schema)
    cond = _cond(node, schema)
    return Cohort({cond.key: ValueSet.of(*cond.true)})


def _domain(key: str, schema: SqlSchema) -> frozenset:
    return frozenset(schema.domains.get(key, (True, False, None)))


def _cond(node: exp.Expression, schema: SqlSchema) -> _Cond:
    if isinstance(node, exp.Paren):
        return _cond(node.this, schema)
    if isinstance(node, exp.Not):
        inner = _cond(node.this, schema)
        return _Cond(inner.key, inner.false, inner.true)
    if isinstance(node, exp.And | exp.Or):
        a, b = _cond(node.left, schema), _cond(node.right, schema)
        if a.key != b.key:
            raise SqlRefused(
                "OR and NOT may only combine conditions on the same column; the guard "
                "reasons about cohorts that are an AND of conditions on single columns."
            )
        if isinstance(node, exp.And):
            return _Cond(a.key, a.true & b.true, a.false | b.false)
        return _Cond(a.key, a.true | b.true, a.false & b.false)
    if isinstance(node, exp.Column):
        name = _filter_column(node, schema)
        if _domain(name, schema) - {True, False, None}:
            raise SqlRefused(f"{name} is not true/false; compare it with a value.")
        return _Cond(name, frozenset({True}), frozenset({False}))
    if isinstance(node, exp.Is):
        name = _filter_column(node.this, schema)
        if _literal(node.expression) is not None:
            raise SqlRefused("Use IS NULL or IS NOT NULL, or = for values.")
        dom = _domain(name, schema)
        return _Cond(name, frozenset({None}), dom - {None})
    if isinstance(node, exp.Between):
        low = _cond(exp.GTE(this=node.this, expression=node.args["low"]), schema)
        high = _cond(exp.LTE(this=node.this, expression=node.args["high"]), schema)
        return _Cond(low.key, low.true & high.true, low.false | high.false)
    if isinstance(node, exp.In):
        if node.args.get("query") or node.args.get("unnest"):
            raise SqlRefused("Refused: subqueries are not allowed; list the values.")
        name = _filter_column(node.this, schema)
        values = {_literal(v) for v in node.expressions}
        if None in values:
            raise SqlRefused("NULL in an IN list matches nothing; use IS NULL.")
        dom = _domain(name, schema)
        true = frozenset(v for v in dom if v in values)
        return _Cond(name, true, dom - true - {None})
    if type(node) in _OPS:
        column, value_node, kind = _bare(node.this), _bare(node.expression), type(node)
        if not isinstance(column, exp.Column):
            if type(node) not in _FLIP:
                column, value_node = value_node, column
            else:
                column, value_node, kind = value_node, column, _FLIP[kind]
        if isinstance(value_node, exp.Column):
            raise SqlRefused("Comparing two columns is not allowed; compare a column with a value.")
        value = _literal(value_node)
        symbol, fn = _OPS[kind]
        name = column.name if isinstance(column, exp.Column) else None
        if name is not None and name in schema.numeric and name not in schema.domains:
            return _threshold_cond(name, symbol, value, schema)
        name = _filter_column(column, schema)
        dom = _domain(name, schema)
        if value is None:
            return _Cond(name, frozenset(), frozenset())
        try:
            true = frozenset(v for v in dom if v is not None and fn(v, value))
        except TypeError:
            raise SqlRefused(f"{name} cannot be compared with {value!r}.") from None
        return _Cond(name, true, dom - true - {None})
    raise SqlRefused(
        f"The condition {node.sql('duckdb')[:80]!r} is not allowed: use comparisons, IN, "
        "BETWEEN and IS NULL on single columns, joined with AND."
    )


def _bare(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _filter_column(node: exp.Expression, schema: SqlSchema) -> str:
    node = _bare(node)
    if not isinstance(node, exp.Column):
        raise SqlRefused(
            f"{node.sql('duckdb')[:60]!r} is not a column; functions and casts are not allowed "
            "in WHERE."
        )
    name = node.name
    if name == schema.identifier:
        raise SqlRefused("Filtering on the person identifier is not allowed.")
    if name not in schema.domains:
        raise SqlRefused(
            f"Filtering on {name} is not allowed; filter on one of "
            f"{', '.join(sorted(schema.domains))}, or on a declared threshold."
        )
    return name


def _threshold_cond(column: str, symbol: str, value, schema: SqlSchema) -> _Cond:
    for t in schema.cols.thresholds:
        if t.column != column or t.value != value:
            continue
        if symbol == t.op:
            return _Cond(t.key, frozenset({True}), frozenset({False}))
        if symbol == _NEGATED[t.op]:
            return _Cond(t.key, frozenset({False}), frozenset({True}))
    offered = [t.label for t in schema.cols.thresholds if t.column == column]
    raise SqlRefused(
        f"{column} can only be filtered at the declared thresholds"
        + (f" ({', '.join(offered)})." if offered else "; none is declared.")
    )


# ---------------------------------------------------------------------------------------
# Running and guarding


def cohort_sql(cohort: Cohort, cols: Columns) -> tuple[str, list]:
    """The SQL condition for a cohort, with its bound parameters.

    Args:
        cohort: The cohort; columns are mart columns, declared threshold keys or ICD-10
            node keys (see :mod:`app.queries`).
        cols: The explorer's view of the configuration.

    Returns:
        ``(condition, parameters)``.
    """
    parts: list[str] = []
    params: list = []
    thresholds = {t.key: t for t in cols.thresholds}
    nodes = {n.key: n for n in cols.diagnoses if n.key not in cols.flags}
    for key, values in cohort.items:
        named = sorted((v for v in values.values if v is not None), key=repr)
        options = []
        if key in thresholds:
            t = thresholds[key]
            column = quote_ident(t.column)
            if True in named:
                options.append(f"{column} {t.op} ?")
                params.append(t.value)
            if False in named:
                options.append(f"({column} is not null and not ({column} {t.op} ?))")
                params.append(t.value)
            if None in values.values:
                options.append(f"{column} is null")
        elif key in nodes:
            anyof = " or ".join(f"coalesce({quote_ident(f)}, false)" for f in nodes[key].flags)
            if True in named:
                options.append(f"({anyof})")
            if False in named:
                options.append(f"not ({anyof})")
        else:
            column = quote_ident(key)
            if named:
                options.append(f"{column} in ({', '.join('?' for _ in named)})")
                params.extend(named)
            if None in values.values:
                options.append(f"{column} is null")
        clause = "(" + (" or ".join(options) or "false") + ")"
        parts.append(f"not {clause}" if values.complement else clause)
    return (" and ".join(parts) or "true"), params


@dataclass
class SqlAnswer:
    """What the SQL tab shows: the guarded counts and the statistics beside them."""

    table: GuardedTable
    columns: list[str]
    kinds: list[str]  # per column: group, count, sum or avg
    rows: list[list]
    notes: list[str]


def run_query(
    con: duckdb.DuckDBPyConnection, query: SqlQuery, schema: SqlSchema, guard: Guard
) -> SqlAnswer:
    """Run a checked query and release its answer through the guard.

    Args:
        con: A read-only cursor on the dataset's database.
        query: From :func:`parse_query`.
        schema: What is allowed (the domains give the rows of the answer).
        guard: The guard of ``query.table``.

    Returns:
        Rows with counts (``None`` where suppressed) and sums or averages beside released
        counts only; a last row holds the total when the guard releases it.
    """
    where, params = cohort_sql(query.cohort, schema.cols)
    groups = [quote_ident(c) for c in query.group_by]
    stats = [o for o in query.outputs if o.kind in ("sum", "avg")]
    select = [*groups, "count(*)"] + [f"{o.kind}({quote_ident(o.column)})" for o in stats]
    sql = f"select {', '.join(select)} from {quote_ident(query.table)} where {where}"
    if groups:
        sql += f" group by {', '.join(groups)}"
    result = {
        tuple(r[: len(groups)]): r[len(groups) :] for r in con.execute(sql, params).fetchall()
    }
    log.info("sql tab on %s: %d groups counted", query.table, len(result))

    axes = []
    for column in query.group_by:
        allowed = query.cohort.get(column)
        axes.append(
            [v for v in schema.domains[column] if (v in allowed.values) != allowed.complement]
        )
    combos = list(product(*axes)) if groups else [()]
    if len(combos) > MAX_GROUPS:
        raise SqlRefused(f"The answer would have {len(combos)} rows; group by fewer columns.")
    if not combos:
        combos = [()]
    labels = [", ".join(BLANK if v is None else str(v) for v in c) or "all" for c in combos]
    row_groups = tuple(
        Group(
            label, Cohort({c: ValueSet.of(v) for c, v in zip(query.group_by, combo, strict=True)})
        )
        for label, combo in zip(labels, combos, strict=True)
    )
    counts = tuple((int(result[c][0]) if c in result else 0,) for c in combos)
    table = CountTable(query.cohort, row_groups, (Group("people", Cohort()),), counts, "as asked")
    released = guard.release_table([table])

    columns = [o.name for o in query.outputs]
    rows = []
    for n, combo in enumerate(combos):
        count = released.cells[n][0]
        row = []
        for o in query.outputs:
            if o.kind == "group":
                row.append(combo[query.group_by.index(o.column)])
            elif o.kind == "count":
                row.append(count)
            else:
                value = result.get(combo, [None] * (len(stats) + 1))[1 + stats.index(o)]
                row.append(None if count is None or value is None else float(value))
        rows.append(row)
    return SqlAnswer(released, columns, [o.kind for o in query.outputs], rows, list(released.notes))


def build_schema(
    con: duckdb.DuckDBPyConnection, tables: tuple[str, ...], cfg, cols: Columns
) -> SqlSchema:
    """What the SQL tab allows for a dataset: its mart and synthetic tables and their columns.

    Filtering and grouping are allowed on quasi-identifiers, flag columns and categorical
    columns (their values come from the first table); numeric columns only in ``sum`` and
    ``avg`` and, in WHERE, at the thresholds the configuration declares.

    Args:
        con: A read-only cursor on the dataset's database.
        tables: The allowed tables; the first is the real mart.
        cfg: The dataset configuration.
        cols: The explorer's view of the configuration.
    """
    from app.queries import AGE_DOMAIN, distinct_values

    identifier = cfg.mart.identifier
    numeric, domains = set(), {}
    for spec in cfg.mart.columns:
        if spec.is_identifier or spec.name == cfg.mart.split_column:
            continue
        if spec.kind == "numeric" and not (spec.integer and spec.role == "quasi_identifier"):
            numeric.add(spec.name)
            continue
        if spec.name == cols.age:
            domains[spec.name] = (*AGE_DOMAIN, None)
        elif cols.domain(spec.name) is not None:
            domains[spec.name] = (*cols.domain(spec.name), None)
        elif spec.kind == "categorical":
            domains[spec.name] = distinct_values(con, tables[0], spec.name)
    for flag in cols.flags:
        domains[flag] = (True, False, None)
    return SqlSchema(
        tuple(t.lower() for t in tables), cols, identifier, frozenset(numeric), domains
    )
