-- One row per typed lab row, with every reason it cannot be used: cast failures from
-- staging, unknown test codes, persons not in the persons file, values outside the
-- plausible range of the measurement (reference.measurement_codes), and exact
-- duplicates (same person, day, test and value; the first occurrence is kept).

with

labs as (

    select * from {{ ref('stg_nafld__labs') }}

),

codes as (

    select * from {{ ref('measurement_codes') }}

),

persons as (

    select person_id from {{ ref('stg_nafld__persons') }}
    where reject_reason is null

),

joined as (

    select
        labs.source_line,
        labs.person_id,
        labs.day_offset,
        labs.source_code,
        codes.measurement,
        codes.unit,
        labs.result_value,
        codes.plausible_min,
        codes.plausible_max,
        labs.reject_reason as staging_reason,
        persons.person_id is not null as has_person

    from labs
    left join codes on labs.source_code = codes.source_code
    left join persons on labs.person_id = persons.person_id

),

flagged as (

    select
        *,
        coalesce(
            staging_reason,
            case
                when measurement is null then 'unknown test code'
                when not has_person then 'person not in the persons file'
                when result_value < plausible_min or result_value > plausible_max
                    then 'value outside the plausible range of ' || measurement
            end
        ) as reject_reason

    from joined

),

ranked as (

    select
        *,
        row_number() over (
            partition by
                person_id, day_offset, source_code, result_value, reject_reason
            order by source_line
        ) as occurrence

    from flagged

)

select
    source_line,
    person_id,
    day_offset,
    source_code,
    measurement,
    unit,
    result_value,
    reject_reason,
    reject_reason is null and occurrence > 1 as is_duplicate

from ranked
