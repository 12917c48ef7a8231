-- One row per measured value of the NAFLD extract, in the canonical measurement
-- shape: every lab row (the row is the value, is_row_record) and the height,
-- weight and BMI of each persons row (day 0; the row carries other values too).
-- The smoking code is a questionnaire answer, see int_nafld__survey_mapped.

with

labs as (

    select * from {{ ref('stg_nafld__labs') }}
    where source_code is distinct from 'smoke'

),

persons as (

    select * from {{ ref('stg_nafld__persons') }}
    where reject_reason is null

),

unpivoted as (

    unpivot persons
    on weight_text as weight, height_text as height, bmi_text as bmi
    into name source_code value raw_value

),

body_values as (

    select
        *,
        synth_fn.parse_measurement(raw_value) as parsed

    from unpivoted
    where synth_fn.clean_text(raw_value) is not null

),

mapped_labs as (

    select
        'nafld2_labs_long' as source_name,
        source_line,
        'value' as column_name,
        true as is_row_record,
        person_id,
        day_offset,
        source_code,
        raw_value,
        result_value,
        value_qualifier,
        value_note,
        reject_reason,
        null::varchar as missing_reason

    from labs

),

mapped_body_values as (

    select
        'nafld1_persons' as source_name,
        source_line,
        source_code as column_name,
        false as is_row_record,
        person_id,
        0 as day_offset,
        source_code,
        raw_value,
        parsed['value'] as result_value,
        parsed['qualifier'] as value_qualifier,
        parsed['note'] as value_note,
        parsed['problem'] as reject_reason,
        null::varchar as missing_reason

    from body_values

),

unioned as (

    select * from mapped_labs
    union all
    select * from mapped_body_values

)

select * from unioned
