-- One row per questionnaire answer: person, day offset, item and answer
-- (text). An answer that is a missing code (refused, don't know, not asked)
-- is NULL with its missing_reason.

with

validated as (

    select * from {{ ref('int_survey__validated') }}

),

kept as (

    select
        person_id,
        day_offset,
        item,
        answer,
        missing_reason,
        source_name,
        source_line

    from validated
    where problem is null and not is_duplicate

)

select * from kept
