-- One row per diagnosis or finding of the PBC files, in the canonical
-- condition shape: primary biliary cholangitis for every enrolled patient
-- (day 0), and each finding present at baseline or a visit (ascites,
-- hepatomegaly, spiders, edema), coded <finding>=<value> for
-- reference.condition_codes.

with

baseline as (

    select * from {{ ref('stg_pbc__baseline') }}
    where reject_reason is null

),

visits as (

    select * from {{ ref('stg_pbc__visits') }}
    where reject_reason is null

),

findings as (

    select
        'pbc_baseline' as source_name,
        source_line,
        person_id,
        0 as day_offset,
        finding,
        raw_value
    from (
        -- sqlfluff's DuckDB grammar gives unpivot's `on` list no indent
        -- level of its own; the list is indented here for the reader.
        -- noqa: disable=LT02
        unpivot baseline
        on
            ascites_text as ascites,
            hepato_text as hepato,
            spiders_text as spiders,
            edema_text as edema
        into name finding value raw_value
        -- noqa: enable=LT02
    )

    union all

    select
        'pbcseq_visits' as source_name,
        source_line,
        person_id,
        day_offset,
        finding,
        raw_value
    from (
        -- noqa: disable=LT02
        unpivot visits
        on
            ascites_text as ascites,
            hepato_text as hepato,
            spiders_text as spiders,
            edema_text as edema
        into name finding value raw_value
        -- noqa: enable=LT02
    )

),

present_findings as (

    select
        source_name,
        source_line,
        false as is_row_record,
        person_id,
        day_offset,
        finding || '=' || synth_fn.normalise_code(raw_value) as source_code,
        null::varchar as reject_reason

    from findings
    where synth_fn.normalise_code(raw_value) is distinct from '0'

),

diagnoses as (

    select
        'pbc_baseline' as source_name,
        source_line,
        false as is_row_record,
        person_id,
        0 as day_offset,
        'diagnosis' as source_code,
        null::varchar as reject_reason

    from baseline

),

unioned as (

    select * from diagnoses
    union all
    select * from present_findings

)

select * from unioned
