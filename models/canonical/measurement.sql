-- One row per usable measured value: person, day offset from the index date,
-- measurement, value in the measurement's unit, and its qualifier ('=' or,
-- for a censored value such as <5, the sign with the bound as the value).

with

validated as (

    select * from {{ ref('int_measurements__validated') }}

),

kept as (

    select
        person_id,
        day_offset,
        measurement,
        result_value,
        unit,
        value_qualifier,
        source_name,
        source_code,
        source_line

    from validated
    where problem is null and not is_duplicate

)

select * from kept
