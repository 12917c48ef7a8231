-- One row per row of the persons file, typed. Values that do not cast are flagged in
-- reject_reason; nothing is dropped here.

with

source as (

    select * from {{ source('nafld', 'nafld1_persons') }}

),

typed as (

    select
        -- ids
        file_row_number + 2 as source_line,
        try_cast(id as bigint) as person_id,
        try_cast(try_cast("case.id" as double) as bigint) as matched_case_id,

        -- numbers
        try_cast(age as integer) as age_years,
        try_cast(weight as double) as weight_kg,
        try_cast(height as double) as height_cm,
        try_cast(bmi as double) as bmi_kg_m2,
        try_cast(futime as integer) as followup_days,

        -- booleans
        case male when '1' then 'M' when '0' then 'F' end as sex,
        case status when '1' then true when '0' then false end as is_dead,

        -- raw text kept for the reject reason
        id as raw_id,
        age as raw_age,
        male as raw_male,
        futime as raw_futime,
        status as raw_status

    from source

),

flagged as (

    select
        *,
        case
            when person_id is null then 'person id is missing or not a whole number'
            when age_years is null then 'age is missing or not a whole number'
            when sex is null then 'male is not 0 or 1'
            when followup_days is null then 'futime is missing or not a whole number'
            when is_dead is null then 'status is not 0 or 1'
        end as reject_reason

    from typed

)

select
    source_line,
    person_id,
    matched_case_id,
    age_years,
    sex,
    weight_kg,
    height_cm,
    bmi_kg_m2,
    followup_days,
    is_dead,
    reject_reason

from flagged
