-- One row per usable diagnosis: person, day offset from the index date, ICD-10
-- code with its block and chapter, and the source it came from.

with

conditions as (

    select * from {{ ref('int_conditions__mapped_to_icd10_blocks') }}

),

kept as (

    select
        person_id,
        day_offset,
        condition,
        icd10_code,
        icd10_block,
        icd10_chapter,
        source_name,
        source_code,
        source_line

    from conditions

)

select * from kept
