-- One row per row of the long lab file, typed; values that do not cast are
-- flagged.

with

source as (

    select * from {{ source('nafld', 'nafld2_labs_long') }}

),

typed as (

    select
        -- ids and time
        file_row_number + 2 as source_line,
        synth_fn.parse_integer(id) as person_id,
        synth_fn.parse_integer(days)::integer as day_offset,
        {{- parse_declared_dates('nafld2_labs_long') }}

        -- the test and its value
        lower(trim(test)) as source_code,
        value as raw_value,
        synth_fn.parse_measurement(value) as parsed

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
            {{- declared_date_problems('nafld2_labs_long') }}
            when source_code is null or source_code = ''
                then 'test code is missing'
            when parsed['problem'] is not null then parsed['problem']
        end as reject_reason

    from typed

)

select
    source_line,
    person_id,
    day_offset,
    {{- declared_date_columns('nafld2_labs_long') }}
    source_code,
    raw_value,
    parsed['value'] as result_value,
    parsed['qualifier'] as value_qualifier,
    parsed['note'] as value_note,
    reject_reason

from flagged
