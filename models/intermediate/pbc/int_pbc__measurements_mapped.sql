-- One row per lab value of the PBC files, in the canonical measurement
-- shape: the baseline labs at day 0 and every visit's labs at its day. A lab
-- recorded in both files for the same day is removed later as a duplicate.

with

baseline as (

    select * from {{ ref('stg_pbc__baseline') }}
    where reject_reason is null

),

visits as (

    select * from {{ ref('stg_pbc__visits') }}
    where reject_reason is null

),

baseline_values as (

    select
        'pbc_baseline' as source_name,
        source_line,
        person_id,
        0 as day_offset,
        source_code,
        raw_value

    from (
        -- sqlfluff's DuckDB grammar gives unpivot's `on` list no indent
        -- level of its own; the list is indented here for the reader.
        -- noqa: disable=LT02
        unpivot baseline
        on
            bili_text as bili,
            chol_text as chol,
            albumin_text as albumin,
            copper_text as copper,
            alk_phos_text as "alk.phos",
            ast_text as ast,
            trig_text as trig,
            platelet_text as platelet,
            protime_text as protime,
            stage_text as stage
        into name source_code value raw_value
        -- noqa: enable=LT02
    )

),

visit_values as (

    select
        'pbcseq_visits' as source_name,
        source_line,
        person_id,
        day_offset,
        source_code,
        raw_value

    from (
        -- noqa: disable=LT02
        unpivot visits
        on
            bili_text as bili,
            chol_text as chol,
            albumin_text as albumin,
            alk_phos_text as "alk.phos",
            ast_text as ast,
            platelet_text as platelet,
            protime_text as protime,
            stage_text as stage
        into name source_code value raw_value
        -- noqa: enable=LT02
    )

),

unioned as (

    select * from baseline_values
    union all
    select * from visit_values

),

parsed as (

    select
        *,
        synth_fn.parse_measurement(raw_value) as parsed_value

    from unioned
    where synth_fn.clean_text(raw_value) is not null

),

mapped as (

    select
        source_name,
        source_line,
        source_code as column_name,
        false as is_row_record,
        person_id,
        day_offset,
        source_code,
        raw_value,
        parsed_value['value'] as result_value,
        parsed_value['qualifier'] as value_qualifier,
        parsed_value['note'] as value_note,
        parsed_value['problem'] as reject_reason,
        null::varchar as missing_reason

    from parsed

)

select * from mapped
