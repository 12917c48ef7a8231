-- One row per source row that could not be used, with the source file, its line number
-- in the original CSV export (header = line 1) and the reason.

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

unioned as (

    select
        'nafld1_persons' as source_name,
        source_line,
        person_id,
        reject_reason
    from persons
    where reject_reason is not null

    union all

    select
        'nafld2_labs_long' as source_name,
        source_line,
        person_id,
        reject_reason
    from measurements
    where reject_reason is not null

    union all

    select
        'nafld3_events_long' as source_name,
        source_line,
        person_id,
        reject_reason
    from conditions
    where reject_reason is not null

)

select * from unioned
