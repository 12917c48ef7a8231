-- One row per usable row of the NAFLD persons file, in the canonical death
-- shape: whether the person died during follow-up and the last day of
-- follow-up.

with

persons as (

    select * from {{ ref('stg_nafld__persons') }}
    where reject_reason is null

),

mapped as (

    select
        'nafld1_persons' as source_name,
        source_line,
        person_id,
        is_dead,
        followup_days,
        case when is_dead then followup_days end as death_day

    from persons

)

select * from mapped
