-- Helpers shared by the metric macros (loaded first: the name sorts first).
--
-- metric_ident(name)        -> text: name quoted as an SQL identifier.
-- metric_literal(text)      -> text: text quoted as an SQL string literal.
-- metric_numbers(tbl, col, kind)
--     -> table (v double): the column as numbers, one row per row of tbl;
--        kind 'date' turns dates and timestamps into epoch seconds, any other
--        kind casts to double. NaN becomes NULL: a missing value is SQL NULL.
-- metric_labels(tbl, col)   -> table (v varchar): the column as text labels.
-- metric_keys(tbl, cols)    -> table (row_key struct): the listed columns of
--        each row as one value; NULL fields compare equal in joins and
--        grouping, so a missing value matches a missing value.
-- Table names may be schema-qualified; column names may hold any character.

create or replace temp macro metric_ident(name) as
'"' || replace(name, '"', '""') || '"';

create or replace temp macro metric_literal(txt) as
'''' || replace(txt, '''', '''''') || '''';

create or replace temp macro metric_numbers(
    tbl, col, kind := 'numeric'
) as table
    select nullif(v, 'nan'::double) as v
    from query(
        format(
            'select {} as v from query_table({})',
            if(
                kind = 'date',
                'epoch(' || metric_ident(col) || ')::double',
                metric_ident(col) || '::double'
            ),
            metric_literal(tbl)
        )
    );

create or replace temp macro metric_labels(tbl, col) as table
    select columns(lambda c: c = col)::varchar as v
    from query_table(tbl);

create or replace temp macro metric_keys(tbl, cols) as table
    select row_key
    from query(
        format(
            'select row({}) as row_key from query_table({})',
            coalesce(
                nullif(
                    array_to_string(
                        list_transform(cols, lambda c: metric_ident(c)), ', '
                    ),
                    ''
                ),
                'null'
            ),
            metric_literal(tbl)
        )
    );

-- metric_pair_values(tbl, col_a, kind_a, col_b, kind_b)
--     -> table (a_num double, a_label varchar, b_num double, b_label varchar):
--        both columns read in one scan, so a and b stay on the same row;
--        *_num is filled for numeric and date kinds, *_label for categorical.
create or replace temp macro metric_value_sql(col, kind, as_number) as
case
    when kind = 'categorical' and as_number then 'null::double'
    when kind = 'categorical' then metric_ident(col) || '::varchar'
    when as_number and kind = 'date'
        then 'epoch(' || metric_ident(col) || ')::double'
    when as_number then metric_ident(col) || '::double'
    else 'null::varchar'
end;

create or replace temp macro metric_pair_values(
    tbl, col_a, kind_a, col_b, kind_b
) as table
    select
        a_label,
        b_label,
        nullif(a_num, 'nan'::double) as a_num,
        nullif(b_num, 'nan'::double) as b_num
    from query(
        format(
            'select {} as a_num, {} as a_label, {} as b_num, {} as b_label '
            || 'from query_table({})',
            metric_value_sql(col_a, kind_a, true),
            metric_value_sql(col_a, kind_a, false),
            metric_value_sql(col_b, kind_b, true),
            metric_value_sql(col_b, kind_b, false),
            metric_literal(tbl)
        )
    );

-- metric_bin(x, lo, hi, n) -> bin number 1..n of x among n equal-width bins
--   on [lo, hi] (numpy.histogram_bin_edges edges lo + i * ((hi - lo) / n),
--   first and last bin open-ended, as SDMetrics' discretize_column); a
--   constant range is widened by 0.5 on each side; NULL stays NULL.
create or replace temp macro metric_bin(x, lo, hi, n) as
if(
    x is null,
    null,
    1 + len(list_filter(
        range(1, n),
        lambda i: if(lo = hi, lo - 0.5, lo)
        + i * ((if(lo = hi, hi + 0.5, hi) - if(lo = hi, lo - 0.5, lo)) / n)
        <= x
    ))
);
