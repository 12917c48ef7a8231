-- Missing-value similarity of one column (any kind).
--
-- Inputs:  real_table, synthetic_table, column_name.
-- Output:  one row (column_name, metric 'missing_value_similarity', value,
--          reason).
-- Definition: 1 - |missing share in real - missing share in synthetic|, as
--   SDMetrics' MissingValueSimilarity. NULL with reason 'no rows' when a
--   table is empty.

create or replace temp macro missing_value_similarity(
    real_table, synthetic_table, column_name
) as table
    with

    shares as (
        select
            (
                select avg((v is null)::int)
                from metric_labels(real_table, column_name)
            )
                as missing_real,
            (
                select avg((v is null)::int)
                from metric_labels(synthetic_table, column_name)
            ) as missing_synthetic
    )

    select
        column_name,
        'missing_value_similarity' as metric,
        1 - abs(missing_real - missing_synthetic) as value,
        if(
            missing_real is null or missing_synthetic is null, 'no rows', null
        ) as reason
    from shares;
