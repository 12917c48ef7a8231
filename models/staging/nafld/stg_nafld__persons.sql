-- One row per row of the persons file, typed. Values that do not cast are
-- flagged in reject_reason; nothing is dropped here. Body measurements stay
-- text: the mapping to canonical measurements parses and checks them one by
-- one.

with

source as (

    select * from {{ source('nafld', 'nafld1_persons') }}

),

typed as (

    select
        -- ids
        file_row_number + 2 as source_line,
        synth_fn.parse_integer(id) as person_id,
        synth_fn.parse_integer("case.id") as matched_case_id,

        -- numbers
        synth_fn.parse_integer(age)::integer as age_years,
        synth_fn.parse_integer(futime)::integer as followup_days,
        {{- parse_declared_dates('nafld1_persons') }}

        -- text kept for the measurement mapping
        weight as weight_text,
        height as height_text,
        bmi as bmi_text,

        -- codes
        case synth_fn.normalise_code(male)
            when '1' then 'M' when '0' then 'F'
        end as sex,
        case synth_fn.normalise_code(status)
            when '1' then true when '0' then false
        end as is_dead

    from source

),

flagged as (

    select
        *,
        case
            when person_id is null
                then 'person id is missing or not a whole number'
            when age_years is null then 'age is missing or not a whole number'
            when sex is null then 'male is not 0 or 1'
            when followup_days is null
                then 'futime is missing or not a whole number'
            when is_dead is null then 'status is not 0 or 1'
            {{- declared_date_problems('nafld1_persons') }}
        end as reject_reason

    from typed

)

select
    source_line,
    person_id,
    matched_case_id,
    age_years,
    sex,
    weight_text,
    height_text,
    bmi_text,
    followup_days,
    is_dead,
    {{- declared_date_columns('nafld1_persons') }}
    reject_reason

from flagged
