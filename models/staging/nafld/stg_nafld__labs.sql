-- One row per row of the long lab file, typed; values that do not cast are flagged.

with

source as (

    select * from {{ source('nafld', 'nafld2_labs_long') }}

),

typed as (

    select
        file_row_number + 2 as source_line,
        try_cast(id as bigint) as person_id,
        try_cast(days as integer) as day_offset,
        lower(trim(test)) as source_code,
        try_cast(value as double) as result_value,
        value as raw_value

    from source

),

flagged as (

    select
        *,
        case
            when person_id is null then 'person id is missing or not a whole number'
            when day_offset is null then 'days is missing or not a whole number'
            when source_code is null or source_code = '' then 'test code is missing'
            when raw_value is null then 'value is missing'
            when result_value is null then 'value is not a number'
        end as reject_reason

    from typed

)

select
    source_line,
    person_id,
    day_offset,
    source_code,
    result_value,
    reject_reason

from flagged
