-- One row per mapped person row of the selected dataset, with why it cannot be
-- used (staging_reason) and is_duplicate for a person id seen on an earlier row
-- (the first occurrence is kept).

with

mapped as (

    select * from {{ dataset_ref('persons_mapped') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by person_id, reject_reason is null
            order by source_name, source_line
        ) as occurrence

    from mapped

)

select
    source_name,
    source_line,
    person_id,
    sex,
    age_years,
    age_qualifier,
    birth_year,
    index_date,
    reject_reason as staging_reason,
    reject_reason as problem,
    true as is_row_record,
    reject_reason is null and occurrence > 1 as is_duplicate

from ranked
