-- Duplicate rate within one table (meant for the synthetic table).
--
-- Inputs:  table_name, columns (list of column names, identifiers left out).
-- Output:  one row (metric 'duplicate_rate', value, reason): the share of
--   rows that repeat an earlier row on every listed column, i.e.
--   1 - distinct rows / rows (a missing value matches a missing value).
--   NULL with reason 'no columns' or 'no rows'.

create or replace temp macro duplicate_rate(table_name, columns) as table
    with

    counted as (
        select
            count(*) as n_rows,
            count(distinct row_key) as n_distinct
        from metric_keys(table_name, columns)
        where len(columns) > 0
    )

    select
        'duplicate_rate' as metric,
        if(n_rows = 0, null, 1 - n_distinct / n_rows) as value,
        case
            when len(columns) = 0 then 'no columns'
            when n_rows = 0 then 'no rows'
        end as reason
    from counted;
