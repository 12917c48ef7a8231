-- One row per source file: rows read, kept, rejected and removed as exact duplicates.
-- The test beside this model checks that nothing is lost:
-- rows_read = rows_kept + rows_rejected + rows_duplicate.

with

persons as (

    select * from {{ ref('stg_nafld__persons') }}

),

measurements as (

    select * from {{ ref('int_measurements__validated') }}

),

conditions as (

    select * from {{ ref('int_conditions__validated') }}

),

read_counts as (

    select 'nafld1_persons' as source_name, count(*) as rows_read
    from {{ source('nafld', 'nafld1_persons') }}
    union all
    select 'nafld2_labs_long', count(*)
    from {{ source('nafld', 'nafld2_labs_long') }}
    union all
    select 'nafld3_events_long', count(*)
    from {{ source('nafld', 'nafld3_events_long') }}

),

outcome_counts as (

    select
        'nafld1_persons' as source_name,
        count(*) filter (where reject_reason is null) as rows_kept,
        count(*) filter (where reject_reason is not null) as rows_rejected,
        0 as rows_duplicate
    from persons

    union all

    select
        'nafld2_labs_long',
        count(*) filter (where reject_reason is null and not is_duplicate),
        count(*) filter (where reject_reason is not null),
        count(*) filter (where is_duplicate)
    from measurements

    union all

    select
        'nafld3_events_long',
        count(*) filter (where reject_reason is null and not is_duplicate),
        count(*) filter (where reject_reason is not null),
        count(*) filter (where is_duplicate)
    from conditions

),

joined as (

    select
        read_counts.source_name,
        read_counts.rows_read,
        outcome_counts.rows_kept,
        outcome_counts.rows_rejected,
        outcome_counts.rows_duplicate

    from read_counts
    inner join outcome_counts
        on read_counts.source_name = outcome_counts.source_name

)

select * from joined
