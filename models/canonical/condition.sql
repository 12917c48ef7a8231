-- One row per usable diagnosis: person, day offset from the index date, ICD-10
-- code with its block and chapter, and the source it came from.

with

conditions as (

    select * from {{ ref('int_conditions__mapped_to_icd10_blocks') }}

)

select * from conditions
