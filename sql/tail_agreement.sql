-- Tail agreement of one numeric or date column.
--
-- Inputs:  real_table, synthetic_table, column_name, kind ('numeric'|'date').
-- Output:  five rows (column_name, metric, value, reason): 'tail_q01_error',
--   'tail_q05_error', 'tail_q95_error', 'tail_q99_error' and
--   'tail_agreement'.
-- Definition: for q in 0.01, 0.05, 0.95, 0.99 the error is
--   |Q_synthetic(q) - Q_real(q)| / (real max - real min), capped at 1, with Q
--   the interpolated quantile of the observed values (quantile_cont); the
--   error is relative to the real range rather than to Q_real(q), which would
--   blow up near zero (a zero-inflated column has Q_real(0.05) = 0).
--   tail_agreement = 1 - mean of the four errors. Not an SDMetrics metric.
--   NULL with reason 'no values' (a side has no value) or 'zero variance'
--   (the real column is constant).

create or replace temp macro tail_agreement(
    real_table, synthetic_table, column_name, kind := 'numeric'
) as table
    with

    real_side as (
        select
            quantile_cont(v, [0.01, 0.05, 0.95, 0.99]) as q,
            max(v) - min(v) as value_range
        from metric_numbers(real_table, column_name, kind)
    ),

    synthetic_side as (
        select quantile_cont(v, [0.01, 0.05, 0.95, 0.99]) as q
        from metric_numbers(synthetic_table, column_name, kind)
    ),

    errors as (
        select
            p.i,
            p.metric,
            case
                when r.q is null or s.q is null then 'no values'
                when r.value_range = 0 then 'zero variance'
            end as reason,
            least(abs(s.q[p.i] - r.q[p.i]) / nullif(r.value_range, 0), 1) as err
        from real_side as r
        cross join synthetic_side as s
        cross join (
            values
            (1, 'tail_q01_error'),
            (2, 'tail_q05_error'),
            (3, 'tail_q95_error'),
            (4, 'tail_q99_error')
        ) as p (i, metric)
    )

    select
        column_name,
        metric,
        if(reason is null, err, null) as value,
        reason
    from errors
    union all
    select
        column_name,
        'tail_agreement' as metric,
        if(any_value(reason) is null, 1 - avg(err), null) as value,
        any_value(reason) as reason
    from errors;
