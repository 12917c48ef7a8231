-- KS complement of one numeric or date column.
--
-- Inputs:  real_table, synthetic_table (names, may be schema-qualified),
--          column_name, kind ('numeric' or 'date'; dates as epoch seconds).
-- Output:  one row (column_name, metric 'ks_complement', value, reason).
-- Definition: 1 - max |F_real(x) - F_synthetic(x)| over the observed values,
--   F the empirical CDFs of the non-missing values (the two-sample
--   Kolmogorov-Smirnov statistic, as SDMetrics' KSComplement). Missing values
--   are left out here and compared by missing_value_similarity.
--   value NULL with reason 'no values' when either side has no value.
-- Difference from SDMetrics 0.32: it first rounds values to 14 decimals;
--   we do not, which changes nothing unless two values differ below 1e-14.

create or replace temp macro ks_complement(
    real_table, synthetic_table, column_name, kind := 'numeric'
) as table
    with

    observed as (
        select
            v,
            1 as is_real
        from metric_numbers(real_table, column_name, kind)
        where v is not null
        union all
        select
            v,
            0 as is_real
        from metric_numbers(synthetic_table, column_name, kind)
        where v is not null
    ),

    per_value as (
        select
            v,
            count(*) filter (where is_real = 1) as n_real,
            count(*) filter (where is_real = 0) as n_synthetic
        from observed
        group by v
    ),

    cdfs as (
        select
            sum(n_real) over (order by v) / sum(n_real) over () as cdf_real,
            sum(n_synthetic) over (order by v)
            / sum(n_synthetic) over () as cdf_synthetic,
            sum(n_real) over () as total_real,
            sum(n_synthetic) over () as total_synthetic
        from per_value
    ),

    statistic as (
        select
            max(abs(cdf_real - cdf_synthetic)) as ks_statistic,
            coalesce(max(total_real), 0) as total_real,
            coalesce(max(total_synthetic), 0) as total_synthetic
        from cdfs
    )

    select
        column_name,
        'ks_complement' as metric,
        if(total_real = 0 or total_synthetic = 0, null, 1 - ks_statistic)
            as value,
        if(total_real = 0 or total_synthetic = 0, 'no values', null) as reason
    from statistic;
