-- One row per usable lab reading: person, day relative to the index date, measurement,
-- value and unit. Rejected rows and exact duplicates are left out (see audit models).

with

validated as (

    select * from {{ ref('int_measurements__validated') }}

),

kept as (

    select
        person_id,
        day_offset,
        measurement,
        unit,
        result_value,
        source_line

    from validated
    where reject_reason is null and not is_duplicate

)

select * from kept
