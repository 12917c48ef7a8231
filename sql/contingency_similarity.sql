-- Contingency similarity of two columns of any kind.
--
-- Inputs:  real_table, synthetic_table, column_a, kind_a, column_b, kind_b
--          (kinds 'numeric', 'date' or 'categorical'), n_bins (default 10).
-- Output:  two rows (column_a, column_b, metric, value, reason):
--   'contingency_similarity' = 1 - 0.5 * sum |P_real(a, b) - P_synthetic(a, b)|
--   over all cells, as SDMetrics' ContingencySimilarity: numbers and dates go
--   to n_bins equal-width bins on the real observed range (outer bins open),
--   and a missing value is a level (a bin) of its own;
--   'real_association' = Cramer's V of the real table over the same cells
--   (chi-squared without continuity correction, as scipy's association),
--   used to tell which pairs show a trend in the real data.
-- Undefined: NULL with reason 'no values' (a numeric column of the real
--   table has no value, so there is no range to bin, or a table is empty);
--   real_association also 'zero variance' when the real table has a single
--   level in a column.

create or replace temp macro contingency_similarity(
    real_table, synthetic_table, column_a, kind_a, column_b, kind_b,
    n_bins := 10
) as table
    with

    real_values as (
        select *
        from metric_pair_values(real_table, column_a, kind_a, column_b, kind_b)
    ),

    synthetic_values as (
        select *
        from metric_pair_values(
            synthetic_table, column_a, kind_a, column_b, kind_b
        )
    ),

    real_ranges as (
        select
            min(a_num) as a_lo,
            max(a_num) as a_hi,
            min(b_num) as b_lo,
            max(b_num) as b_hi,
            count(*) as n_rows
        from real_values
    ),

    cells as (
        select
            1 as is_real,
            if(
                kind_a = 'categorical', v.a_label,
                metric_bin(v.a_num, r.a_lo, r.a_hi, n_bins)::varchar
            ) as cell_a,
            if(
                kind_b = 'categorical', v.b_label,
                metric_bin(v.b_num, r.b_lo, r.b_hi, n_bins)::varchar
            ) as cell_b
        from real_values as v cross join real_ranges as r
        union all
        select
            0 as is_real,
            if(
                kind_a = 'categorical', v.a_label,
                metric_bin(v.a_num, r.a_lo, r.a_hi, n_bins)::varchar
            ) as cell_a,
            if(
                kind_b = 'categorical', v.b_label,
                metric_bin(v.b_num, r.b_lo, r.b_hi, n_bins)::varchar
            ) as cell_b
        from synthetic_values as v cross join real_ranges as r
    ),

    counts as (
        select
            cell_a,
            cell_b,
            count(*) filter (where is_real = 1) as n_real,
            count(*) filter (where is_real = 0) as n_synthetic
        from cells
        group by cell_a, cell_b
    ),

    totals as (
        select
            sum(n_real) as total_real,
            sum(n_synthetic) as total_synthetic
        from counts
    ),

    similarity as (
        select
            1 - 0.5 * sum(abs(
                c.n_real / t.total_real - c.n_synthetic / t.total_synthetic
            )) as score
        from counts as c cross join totals as t
    ),

    real_margins_a as (
        select
            cell_a,
            sum(n_real) as n_a
        from counts
        where n_real > 0
        group by cell_a
    ),

    real_margins_b as (
        select
            cell_b,
            sum(n_real) as n_b
        from counts
        where n_real > 0
        group by cell_b
    ),

    chi_squared as (
        select
            sum(
                (coalesce(c.n_real, 0) - ma.n_a * mb.n_b / t.total_real) ** 2
                / (ma.n_a * mb.n_b / t.total_real)
            ) as chi2,
            (select count(*) from real_margins_a) as levels_a,
            (select count(*) from real_margins_b) as levels_b
        from real_margins_a as ma
        cross join real_margins_b as mb
        cross join totals as t
        left join counts as c
            on
                ma.cell_a is not distinct from c.cell_a
                and mb.cell_b is not distinct from c.cell_b
    ),

    judged as (
        select
            s.score,
            x.chi2,
            t.total_real,
            case
                when
                    t.total_real = 0
                    or t.total_synthetic = 0
                    or (kind_a <> 'categorical' and r.a_lo is null)
                    or (kind_b <> 'categorical' and r.b_lo is null)
                    then 'no values'
            end as reason,
            least(x.levels_a, x.levels_b) as min_levels
        from similarity as s
        cross join chi_squared as x
        cross join totals as t
        cross join real_ranges as r
    )

    select
        column_a,
        column_b,
        'contingency_similarity' as metric,
        if(reason is null, score, null) as value,
        reason
    from judged
    union all
    select
        column_a,
        column_b,
        'real_association' as metric,
        if(
            reason is null and min_levels >= 2,
            sqrt(chi2 / (total_real * (min_levels - 1))),
            null
        ) as value,
        coalesce(reason, if(min_levels < 2, 'zero variance', null)) as reason
    from judged;
