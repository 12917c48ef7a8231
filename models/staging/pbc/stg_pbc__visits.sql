-- One row per row of the PBC visits file, typed: person, day from enrolment,
-- and the visit's findings and labs as text (parsed by the canonical
-- mapping).

with

source as (

    select * from {{ source('pbc', 'pbcseq_visits') }}

),

typed as (

    select
        -- ids and time
        file_row_number + 2 as source_line,
        synth_fn.parse_integer(id) as person_id,
        synth_fn.parse_integer(day)::integer as day_offset,
        {{- parse_declared_dates('pbcseq_visits') }}

        -- findings, as text
        ascites as ascites_text,
        hepato as hepato_text,
        spiders as spiders_text,
        edema as edema_text,

        -- labs, as text
        bili as bili_text,
        chol as chol_text,
        albumin as albumin_text,
        "alk.phos" as alk_phos_text,
        ast as ast_text,
        platelet as platelet_text,
        protime as protime_text,
        stage as stage_text

    from source

),

flagged as (

    select
        *,
        case
            when person_id is null
                then 'person id is missing or not a whole number'
            when day_offset is null then 'day is missing or not a whole number'
            {{- declared_date_problems('pbcseq_visits') }}
        end as reject_reason

    from typed

)

select * from flagged
