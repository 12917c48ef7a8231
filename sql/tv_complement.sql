-- TV complement of one categorical column.
--
-- Inputs:  real_table, synthetic_table, column_name.
-- Output:  two rows (column_name, metric, value, reason):
--   'tv_complement'              1 - 0.5 * sum |p_real - p_synthetic| over the
--                                observed levels (missing values left out), as
--                                SDMetrics' TVComplement and the fixture;
--   'tv_complement_with_missing' the same with missing as a level of its own.
--   NULL with reason 'no values' when a side has nothing to compare.
-- Difference from SDMetrics 0.32: it gives a synthetic level unseen in the
--   real column a real count of 1e-6 (which shifts the other real shares by
--   about 1e-6 / n_real); we count such levels with a real share of exactly 0.

create or replace temp macro tv_complement(
    real_table, synthetic_table, column_name
) as table
    with

    labelled as (
        select
            v,
            1 as is_real
        from metric_labels(real_table, column_name)
        union all
        select
            v,
            0 as is_real
        from metric_labels(synthetic_table, column_name)
    ),

    per_level as (
        select
            v,
            count(*) filter (where is_real = 1) as n_real,
            count(*) filter (where is_real = 0) as n_synthetic
        from labelled
        group by v
    ),

    totals as (
        select
            sum(n_real) filter (where v is not null) as observed_real,
            sum(n_synthetic) filter (where v is not null) as observed_synthetic,
            sum(n_real) as rows_real,
            sum(n_synthetic) as rows_synthetic
        from per_level
    ),

    distances as (
        select
            sum(abs(
                n_real / nullif(observed_real, 0)
                - n_synthetic / nullif(observed_synthetic, 0)
            )) filter (where v is not null) as observed_distance,
            sum(abs(
                n_real / nullif(rows_real, 0)
                - n_synthetic / nullif(rows_synthetic, 0)
            )) as full_distance
        from per_level cross join totals
    )

    select
        column_name,
        'tv_complement' as metric,
        1 - 0.5 * observed_distance as value,
        if(observed_distance is null, 'no values', null) as reason
    from distances
    union all
    select
        column_name,
        'tv_complement_with_missing' as metric,
        1 - 0.5 * full_distance as value,
        if(full_distance is null, 'no values', null) as reason
    from distances;
