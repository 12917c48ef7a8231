-- Category coverage of one categorical column.
--
-- Inputs:  real_table, synthetic_table, column_name.
-- Output:  one row (column_name, metric 'category_coverage', value, reason).
-- Definition: share of the distinct observed real levels that occur in the
--   synthetic column, as SDMetrics' CategoryCoverage (missing values are not
--   a level here). NULL with reason 'no values' when the real column has none.

create or replace temp macro category_coverage(
    real_table, synthetic_table, column_name
) as table
    with

    real_levels as (
        select distinct v
        from metric_labels(real_table, column_name)
        where v is not null
    ),

    synthetic_levels as (
        select distinct v
        from metric_labels(synthetic_table, column_name)
        where v is not null
    ),

    coverage as (
        select
            count(*) as n_levels,
            count(s.v) as n_covered
        from real_levels as r
        left join synthetic_levels as s on r.v = s.v
    )

    select
        column_name,
        'category_coverage' as metric,
        if(n_levels = 0, null, n_covered / n_levels) as value,
        if(n_levels = 0, 'no values', null) as reason
    from coverage;
