-- One row per PBC baseline row, in the canonical survey shape: the trial arm
-- (item trt: 1 D-penicillamine, 2 placebo). The 106 patients who were not
-- randomised have no arm; their answer is NULL with that reason.

with

baseline as (

    select * from {{ ref('stg_pbc__baseline') }}
    where reject_reason is null

),

mapped as (

    select
        'pbc_baseline' as source_name,
        source_line,
        false as is_row_record,
        person_id,
        0 as day_offset,
        'trt' as item,
        treatment_code as answer,
        null::varchar as reject_reason,
        case
            when treatment_code is null then 'not randomised'
        end as missing_reason

    from baseline

)

select * from mapped
