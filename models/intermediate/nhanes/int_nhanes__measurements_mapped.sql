-- One row per NHANES value of a variable that reference.measurement_codes
-- lists as a measurement (examination, laboratory and a few questionnaire
-- numbers), in the canonical measurement shape, at day 0.

with

answers as (

    select * from {{ ref('int_nhanes__answers_unpivoted') }}

),

codes as (

    select * from {{ ref('measurement_codes') }}
    where dataset = 'nhanes'

),

measured as (

    select
        answers.*,
        synth_fn.parse_measurement(answers.raw_value) as parsed_value

    from answers
    inner join codes on answers.variable = codes.source_code

),

mapped as (

    select
        source_name,
        source_line,
        variable as column_name,
        false as is_row_record,
        person_id,
        0 as day_offset,
        variable as source_code,
        raw_value,
        parsed_value['value'] as result_value,
        parsed_value['qualifier'] as value_qualifier,
        parsed_value['note'] as value_note,
        case
            when missing_reason is null then parsed_value['problem']
        end as reject_reason,
        missing_reason

    from measured

)

select * from mapped
