-- One row per usable PBC baseline row, in the canonical death shape: status
-- 2 is death; 0 (censored) and 1 (liver transplant) end follow-up alive.

with

baseline as (

    select * from {{ ref('stg_pbc__baseline') }}
    where reject_reason is null

),

mapped as (

    select
        'pbc_baseline' as source_name,
        source_line,
        person_id,
        status_code = '2' as is_dead,
        followup_days,
        case when status_code = '2' then followup_days end as death_day

    from baseline

)

select * from mapped
