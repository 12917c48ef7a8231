-- Small-group share: synthetic rows that point at a rare real group.
--
-- Inputs:  real_table, synthetic_table, quasi_identifiers (list of column
--          names), k (group size threshold, e.g. 10).
-- Output:  one row (metric 'small_group_share', value, reason): the share of
--   synthetic rows whose combination of quasi-identifiers matches a group of
--   the real table with fewer than k rows (1 <= size < k). A missing value is
--   a value of its own. NULL with reason 'no quasi-identifiers' or 'no rows'.

create or replace temp macro small_group_share(
    real_table, synthetic_table, quasi_identifiers, k
) as table
    with

    real_groups as (
        select
            row_key,
            count(*) as group_size
        from metric_keys(real_table, quasi_identifiers)
        where len(quasi_identifiers) > 0
        group by row_key
    ),

    matched as (
        select
            count(*) as n_synthetic,
            count(*) filter (where g.group_size < k) as n_small
        from metric_keys(synthetic_table, quasi_identifiers) as s
        left join real_groups as g on s.row_key = g.row_key
        where len(quasi_identifiers) > 0
    )

    select
        'small_group_share' as metric,
        if(n_synthetic = 0, null, n_small / n_synthetic) as value,
        case
            when len(quasi_identifiers) = 0 then 'no quasi-identifiers'
            when n_synthetic = 0 then 'no rows'
        end as reason
    from matched;
