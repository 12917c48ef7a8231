-- One row per answer-like value of the NAFLD extract, in the canonical survey
-- shape: the smoking code of the lab file (a row per answer) and whether the
-- person is a NAFLD case or a matched control (from the persons file).

with

labs as (

    select * from {{ ref('stg_nafld__labs') }}
    where source_code = 'smoke'

),

persons as (

    select * from {{ ref('stg_nafld__persons') }}
    where reject_reason is null

),

smoking_answers as (

    select
        'nafld2_labs_long' as source_name,
        source_line,
        true as is_row_record,
        person_id,
        day_offset,
        'smoke' as item,
        synth_fn.normalise_code(raw_value) as answer,
        reject_reason,
        null::varchar as missing_reason

    from labs

),

case_answers as (

    select
        'nafld1_persons' as source_name,
        source_line,
        false as is_row_record,
        person_id,
        0 as day_offset,
        'nafld_case' as item,
        case when matched_case_id = person_id then '1' else '0' end as answer,
        null::varchar as reject_reason,
        null::varchar as missing_reason

    from persons

),

unioned as (

    select * from smoking_answers
    union all
    select * from case_answers

)

select * from unioned
