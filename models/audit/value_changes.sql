-- One row per value of a wide source row (a row that carries several values)
-- that was changed while the row was kept: set to NULL (outside its
-- plausible range, not a number, a survey missing code, a duplicate of a
-- value on another row) or corrected (negative zero, a numeric artefact read
-- as 0).

with

measurements as (

    select * from {{ ref('int_measurements__validated') }}

),

answers as (

    select * from {{ ref('int_survey__validated') }}

),

changes as (

    select
        source_name,
        source_line,
        person_id,
        column_name,
        raw_value,
        case
            when problem is not null or is_duplicate then 'set to NULL'
            else 'corrected'
        end as action,
        case
            when problem is not null then problem
            when is_duplicate then 'duplicate of a value on an earlier row'
            else value_note
        end as reason
    from measurements
    where
        not (is_row_record and (problem is not null or is_duplicate))
        and (problem is not null or is_duplicate or value_note is not null)

    union all

    select
        source_name,
        source_line,
        person_id,
        item as column_name,
        raw_answer as raw_value,
        'set to NULL' as action,
        missing_reason as reason
    from answers
    where problem is null and missing_reason is not null

)

select * from changes
