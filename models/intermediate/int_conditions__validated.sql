-- One row per mapped diagnosis of the selected dataset, with every reason it
-- cannot be used: staging problems, a source code that
-- reference.condition_codes does not map to ICD-10, a person not in the
-- person table; and is_duplicate for the same code, person and day seen on
-- an earlier row.

with

mapped as (

    select * from {{ dataset_ref('conditions_mapped') }}

),

codes as (

    select * from {{ ref('condition_codes') }}
    where dataset = '{{ synth_dataset() }}'

),

persons as (

    select person_id from {{ ref('int_persons__validated') }}
    where problem is null and not is_duplicate

),

joined as (

    select
        mapped.*,
        codes.condition,
        codes.icd10_code,
        persons.person_id is not null as has_person

    from mapped
    left join codes on mapped.source_code = codes.source_code
    left join persons on mapped.person_id = persons.person_id

),

checked as (

    select
        *,
        coalesce(
            reject_reason,
            case
                when condition is null then 'unknown condition code'
                when not has_person then 'person not in the person table'
            end
        ) as problem

    from joined

),

ranked as (

    select
        *,
        row_number() over (
            partition by person_id, day_offset, source_code, problem is null
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
    source_code,
    condition,
    icd10_code,
    reject_reason as staging_reason,
    problem,
    problem is null and occurrence > 1 as is_duplicate

from ranked
