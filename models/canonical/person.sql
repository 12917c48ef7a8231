-- One row per person of the selected dataset: sex, age at the index date,
-- birth year where known, and the index date where the source has calendar
-- dates (else day 0 of every day offset).

with

validated as (

    select * from {{ ref('int_persons__validated') }}

),

kept as (

    select
        person_id,
        sex,
        age_years,
        age_qualifier,
        birth_year,
        index_date,
        source_name,
        source_line

    from validated
    where problem is null and not is_duplicate

)

select * from kept
