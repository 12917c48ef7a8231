-- Exact copies: synthetic rows that repeat a real row.
--
-- Inputs:  real_table, synthetic_table, columns (list of column names; leave
--          identifiers out, so a copied row under a new id still counts).
-- Output:  two rows (metric, value, reason): 'exact_copies' (count of
--   synthetic rows equal to some real row on every listed column, a missing
--   value matching a missing value) and 'exact_copy_rate' (that count over
--   the synthetic rows). NULL with reason 'no columns' or 'no rows'.

create or replace temp macro exact_copies(
    real_table, synthetic_table, columns
) as table
    with

    real_keys as (
        select distinct row_key
        from metric_keys(real_table, columns)
        where len(columns) > 0
    ),

    synthetic_keys as (
        select row_key
        from metric_keys(synthetic_table, columns)
        where len(columns) > 0
    ),

    copies as (
        select
            (select count(*) from synthetic_keys) as n_synthetic,
            (
                select count(*)
                from synthetic_keys as s
                semi join real_keys as r on s.row_key = r.row_key
            ) as n_copies
    ),

    judged as (
        select
            n_synthetic,
            n_copies,
            case
                when len(columns) = 0 then 'no columns'
                when n_synthetic = 0 then 'no rows'
            end as reason
        from copies
    )

    select
        'exact_copies' as metric,
        if(len(columns) = 0, null, n_copies::double) as value,
        if(len(columns) = 0, 'no columns', null) as reason
    from judged
    union all
    select
        'exact_copy_rate' as metric,
        if(reason is null, n_copies / n_synthetic, null) as value,
        reason
    from judged;
