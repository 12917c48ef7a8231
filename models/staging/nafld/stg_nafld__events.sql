-- One row per row of the diagnosis file, typed; values that do not cast are
-- flagged.

with

source as (

    select * from {{ source('nafld', 'nafld3_events_long') }}

),

typed as (

    select
        file_row_number + 2 as source_line,
        synth_fn.parse_integer(id) as person_id,
        synth_fn.parse_integer(days)::integer as day_offset,
        {{- parse_declared_dates('nafld3_events_long') }}
        synth_fn.clean_text(event) as source_code

    from source

),

flagged as (

    select
        *,
        case
            when person_id is null
                then 'person id is missing or not a whole number'
            when day_offset is null
                then 'days is missing or not a whole number'
            {{- declared_date_problems('nafld3_events_long') }}
            when source_code is null then 'event is missing'
        end as reject_reason

    from typed

)

select
    source_line,
    person_id,
    day_offset,
    {{- declared_date_columns('nafld3_events_long') }}
    source_code,
    reject_reason

from flagged
