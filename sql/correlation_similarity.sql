-- Pearson correlation similarity of two numeric or date columns.
--
-- Inputs:  real_table, synthetic_table, column_a, kind_a, column_b, kind_b
--          (kinds 'numeric' or 'date').
-- Output:  three rows (column_a, column_b, metric, value, reason):
--   'real_correlation', 'synthetic_correlation' (Pearson, over the rows where
--   both columns have a value) and 'correlation_similarity'
--   = 1 - |corr_real - corr_synthetic| / 2, as SDMetrics'
--   CorrelationSimilarity.
-- Undefined: NULL with reason 'no values' (fewer than two complete rows) or
--   'zero variance' (a column is constant over the complete rows). The test
--   is min = max, never the NaN or NULL that corr() returns on a constant
--   column, so the answer is the same on every DuckDB version.

create or replace temp macro correlation_similarity(
    real_table, synthetic_table, column_a, kind_a, column_b, kind_b
) as table
    with

    sides as (
        select
            'real' as side,
            count(*) as n_complete,
            min(a_num) = max(a_num) or min(b_num) = max(b_num) as is_constant,
            corr(b_num, a_num) as pearson_r
        from metric_pair_values(real_table, column_a, kind_a, column_b, kind_b)
        where a_num is not null and b_num is not null
        union all
        select
            'synthetic' as side,
            count(*) as n_complete,
            min(a_num) = max(a_num) or min(b_num) = max(b_num) as is_constant,
            corr(b_num, a_num) as pearson_r
        from
            metric_pair_values(
                synthetic_table, column_a, kind_a, column_b, kind_b
            )
        where a_num is not null and b_num is not null
    ),

    judged as (
        select
            side,
            pearson_r,
            case
                when n_complete < 2 then 'no values'
                when is_constant then 'zero variance'
            end as reason
        from sides
    ),

    pair as (
        select
            max(pearson_r) filter (where side = 'real') as corr_real,
            max(pearson_r) filter (where side = 'synthetic')
                as corr_synthetic,
            min(reason) as reason
        from judged
    )

    select
        column_a,
        column_b,
        'real_correlation' as metric,
        if(reason is null, corr_real, null) as value,
        reason
    from pair
    union all
    select
        column_a,
        column_b,
        'synthetic_correlation' as metric,
        if(reason is null, corr_synthetic, null) as value,
        reason
    from pair
    union all
    select
        column_a,
        column_b,
        'correlation_similarity' as metric,
        if(reason is null, 1 - abs(corr_real - corr_synthetic) / 2, null)
            as value,
        reason
    from pair;
