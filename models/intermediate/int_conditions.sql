-- One row per usable diagnosis: person, day relative to the index date, condition and
-- its ICD-10 code. Rejected rows and exact duplicates are left out.

with

validated as (

    select * from {{ ref('int_conditions__validated') }}

),

kept as (

    select
        person_id,
        day_offset,
        condition,
        icd10_code,
        source_line

    from validated
    where reject_reason is null and not is_duplicate

)

select * from kept
