-- One row per usable diagnosis, with the ICD-10 block and chapter its code
-- rolls up to (C34 -> C30-C39 -> II), from reference.icd10_blocks and
-- icd10_chapters.

with

conditions as (

    select * from {{ ref('int_conditions__validated') }}
    where problem is null and not is_duplicate

),

blocks as (

    select * from {{ ref('icd10_blocks') }}

),

chapters as (

    select * from {{ ref('icd10_chapters') }}

),

rolled_up as (

    select
        conditions.person_id,
        conditions.day_offset,
        conditions.condition,
        conditions.icd10_code,
        blocks.block as icd10_block,
        chapters.chapter as icd10_chapter,
        conditions.source_name,
        conditions.source_code,
        conditions.source_line

    from conditions
    left join blocks
        on
            left(conditions.icd10_code, 3) >= blocks.first_code
            and left(conditions.icd10_code, 3) <= blocks.last_code
    left join chapters on blocks.chapter = chapters.chapter

)

select * from rolled_up
