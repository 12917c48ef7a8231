-- One row per row of every NAFLD source file, with the reason staging could not
-- use it; the base of the row accounting in audit.source_row_counts.

with

persons as (

    select * from {{ ref('stg_nafld__persons') }}

),

labs as (

    select * from {{ ref('stg_nafld__labs') }}

),

events as (

    select * from {{ ref('stg_nafld__events') }}

),

unioned as (

    select
        'nafld1_persons' as source_name,
        source_line,
        person_id,
        reject_reason
    from persons

    union all

    select
        'nafld2_labs_long' as source_name,
        source_line,
        person_id,
        reject_reason
    from labs

    union all

    select
        'nafld3_events_long' as source_name,
        source_line,
        person_id,
        reject_reason
    from events

)

select * from unioned
