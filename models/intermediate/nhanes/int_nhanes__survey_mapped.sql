-- One row per NHANES value of every variable that is not a measurement, in the
-- canonical survey shape (item = NHANES variable, answer = text), at day 0.

with

answers as (

    select * from {{ ref('int_nhanes__answers_unpivoted') }}

),

codes as (

    select * from {{ ref('measurement_codes') }}
    where dataset = 'nhanes'

),

mapped as (

    select
        answers.source_name,
        answers.source_line,
        false as is_row_record,
        answers.person_id,
        0 as day_offset,
        answers.variable as item,
        synth_fn.normalise_code(answers.raw_value) as answer,
        null::varchar as reject_reason,
        answers.missing_reason

    from answers
    anti join codes on answers.variable = codes.source_code

)

select * from mapped
