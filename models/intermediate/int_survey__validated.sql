-- One row per mapped questionnaire answer of the selected dataset. A missing
-- code (refused, don't know, not asked) keeps the row with a NULL answer and
-- the missing_reason; staging problems and unknown persons are problems;
-- is_duplicate marks the same answer to the same item, person and day seen
-- on an earlier row.

with

mapped as (

    select * from {{ dataset_ref('survey_mapped') }}

),

persons as (

    select person_id from {{ ref('int_persons__validated') }}
    where problem is null and not is_duplicate

),

checked as (

    select
        mapped.*,
        coalesce(
            mapped.reject_reason,
            case
                when persons.person_id is null
                    then 'person not in the person table'
            end
        ) as problem

    from mapped
    left join persons on mapped.person_id = persons.person_id

),

ranked as (

    select
        *,
        row_number() over (
            partition by person_id, day_offset, item, answer, problem is null
            order by source_name, source_line
        ) as occurrence

    from checked

)

select
    source_name,
    source_line,
    is_row_record,
    person_id,
    day_offset,
    item,
    case when missing_reason is null then answer end as answer,
    answer as raw_answer,
    missing_reason,
    reject_reason as staging_reason,
    problem,
    problem is null and occurrence > 1 as is_duplicate

from ranked
