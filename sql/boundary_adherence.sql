-- Boundary adherence of one numeric or date column.
--
-- Inputs:  real_table, synthetic_table, column_name, kind ('numeric'|'date').
-- Output:  one row (column_name, metric 'boundary_adherence', value, reason).
-- Definition: share of synthetic values inside [min, max] of the real values,
--   as SDMetrics' BoundaryAdherence: when the real column has missing values,
--   synthetic missing values are left out; when it has none, a synthetic
--   missing value counts as outside. NULL with reason 'no values' when the
--   real column has no value or there is no synthetic value to judge.

create or replace temp macro boundary_adherence(
    real_table, synthetic_table, column_name, kind := 'numeric'
) as table
    with

    real_bounds as (
        select
            min(v) as lower_bound,
            max(v) as upper_bound,
            count(*) > count(v) as real_has_missing
        from metric_numbers(real_table, column_name, kind)
    ),

    judged as (
        select
            count(*) filter (
                where s.v between b.lower_bound and b.upper_bound
            ) as n_inside,
            count(*) filter (
                where s.v is not null or not b.real_has_missing
            ) as n_judged,
            any_value(b.lower_bound) as lower_bound
        from metric_numbers(synthetic_table, column_name, kind) as s
        cross join real_bounds as b
    )

    select
        column_name,
        'boundary_adherence' as metric,
        if(lower_bound is null or n_judged = 0, null, n_inside / n_judged)
            as value,
        if(lower_bound is null or n_judged = 0, 'no values', null) as reason
    from judged;
