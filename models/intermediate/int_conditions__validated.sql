-- One row per typed diagnosis row, with every reason it cannot be used: cast failures
-- from staging, unknown event names, persons not in the persons file, and exact
-- duplicates (same person, day and event; the first occurrence is kept).

with

events as (

    select * from {{ ref('stg_nafld__events') }}

),

codes as (

    select * from {{ ref('condition_codes') }}

),

persons as (

    select person_id from {{ ref('stg_nafld__persons') }}
    where reject_reason is null

),

joined as (

    select
        events.source_line,
        events.person_id,
        events.day_offset,
        events.source_code,
        codes.condition,
        codes.icd10_code,
        events.reject_reason as staging_reason,
        persons.person_id is not null as has_person

    from events
    left join codes on events.source_code = codes.source_code
    left join persons on events.person_id = persons.person_id

),

flagged as (

    select
        *,
        coalesce(
            staging_reason,
            case
                when condition is null then 'unknown event name'
                when not has_person then 'person not in the persons file'
            end
        ) as reject_reason

    from joined

),

ranked as (

    select
        *,
        row_number() over (
            partition by person_id, day_offset, source_code, reject_reason
            order by source_line
        ) as occurrence

    from flagged

)

select
    source_line,
    person_id,
    day_offset,
    source_code,
    condition,
    icd10_code,
    reject_reason,
    reject_reason is null and occurrence > 1 as is_duplicate

from ranked
