-- One row per row of the NAFLD diagnosis file, in the canonical condition
-- shape; the event name is the source code that reference.condition_codes
-- maps to ICD-10.

with

events as (

    select * from {{ ref('stg_nafld__events') }}

),

mapped as (

    select
        'nafld3_events_long' as source_name,
        source_line,
        true as is_row_record,
        person_id,
        day_offset,
        source_code,
        reject_reason

    from events

)

select * from mapped
