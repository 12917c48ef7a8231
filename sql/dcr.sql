-- Distance to closest record (DCR), exact, by brute force in SQL.
--
-- Inputs:  synthetic_table, reference_table (the rows to search: the training
--          split or the holdout), range_table (the table whose min..max range
--          scales numbers; synth/metrics.py and SDMetrics pass the searched
--          table itself), columns and kinds (parallel
--          lists; kinds 'numeric', 'date' or 'categorical'; leave identifiers
--          out).
-- Output:  one row per synthetic row (synthetic_row, dcr): synthetic_row
--   numbers the synthetic rows 1..n in scan order.
-- Definition: per column, |a - b| / (max - min of range_table), capped at 1,
--   for numbers and dates (0 when equal, 1 otherwise if the range is 0); 0/1
--   for categories; a missing value against a value is 1, missing against
--   missing 0. A row distance is the mean over the columns; the DCR is the
--   smallest row distance to any reference row. SDMetrics 0.32 scales each
--   search by the range of the reference table itself (range_table =
--   reference_table), and synth/metrics.py does the same so that the DCR
--   share matches it. Passing the training split as range_table for both
--   searches instead puts both on one scale; on the NHANES fixture that moves
--   the share of rows closer to training from 0.375 to 0.515, so the choice
--   is stated with every figure.
-- Cost: n_synthetic x n_reference row pairs; synth/metrics.py computes the
--   same numbers for large tables with the exact search of synth/distance.py
--   (joins on exact keys, pruned float32 blocks, float64 recheck of the
--   deciding pairs).

create or replace temp macro metric_dcr_term(col, kind) as
case
    when kind = 'categorical'
        then format(
            'if(s.{0} is not distinct from r.{0}, 0, 1)', metric_ident(col)
        )
    else format(
        'case when s.{0} is null and r.{0} is null then 0 '
        || 'when s.{0} is null or r.{0} is null then 1 '
        || 'when g.{0} = 0 then (s.{0} <> r.{0})::int '
        || 'else least(abs(s.{0} - r.{0}) / g.{0}, 1) end',
        metric_ident(col)
    )
end;

create or replace temp macro metric_dcr_value(col, kind) as
case
    when kind = 'categorical' then metric_ident(col) || '::varchar'
    when kind = 'date' then 'epoch(' || metric_ident(col) || ')::double'
    else metric_ident(col) || '::double'
end || ' as ' || metric_ident(col);

create or replace temp macro metric_dcr_range(col, kind) as
case
    when kind = 'categorical' then 'null'
    when kind = 'date'
        then format('max(epoch({0})) - min(epoch({0}))', metric_ident(col))
    else format('max({0})::double - min({0})::double', metric_ident(col))
end || ' as ' || metric_ident(col);

create or replace temp macro dcr(
    synthetic_table, reference_table, range_table, columns, kinds
) as table
    -- The columns are the ones listed: dynamic SQL, unknown to the linter.
    select *  -- noqa: AM04
    from query(
        format(
            'with s as (select row_number() over () as synthetic_row, {0} '
            || 'from query_table({1})), '
            || 'r as (select {0} from query_table({2})), '
            || 'g as (select {3} from query_table({4})) '
            || 'select synthetic_row, min(({5}) / {6}) as dcr '
            || 'from s cross join r cross join g group by synthetic_row',
            array_to_string(
                list_transform(
                    range(1, len(columns) + 1),
                    lambda i: metric_dcr_value(columns[i], kinds[i])
                ),
                ', '
            ),
            metric_literal(synthetic_table),
            metric_literal(reference_table),
            array_to_string(
                list_transform(
                    range(1, len(columns) + 1),
                    lambda i: metric_dcr_range(columns[i], kinds[i])
                ),
                ', '
            ),
            metric_literal(range_table),
            array_to_string(
                list_transform(
                    range(1, len(columns) + 1),
                    lambda i: metric_dcr_term(columns[i], kinds[i])
                ),
                ' + '
            ),
            len(columns)
        )
    );
