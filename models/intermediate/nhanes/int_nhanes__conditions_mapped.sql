-- One row per NHANES answer that reports a diagnosis, in the canonical
-- condition shape: an answer coded <variable>=<answer> that
-- reference.condition_codes maps to ICD-10 (MCQ160E=1, heart attack;
-- MCQ230A=23, lung cancer ...), at day 0.

with

answers as (

    select * from {{ ref('int_nhanes__answers_unpivoted') }}
    where missing_reason is null

),

codes as (

    select * from {{ ref('condition_codes') }}
    where dataset = 'nhanes'

),

coded as (

    select
        source_name,
        source_line,
        person_id,
        variable || '=' || synth_fn.normalise_code(raw_value) as source_code

    from answers

),

mapped as (

    select
        coded.source_name,
        coded.source_line,
        false as is_row_record,
        coded.person_id,
        0 as day_offset,
        coded.source_code,
        null::varchar as reject_reason

    from coded
    semi join codes on coded.source_code = codes.source_code

)

select * from mapped
