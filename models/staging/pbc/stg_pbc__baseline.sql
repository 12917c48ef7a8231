-- One row per row of the PBC baseline file, typed. Ids, times, codes and sex
-- are cast here; lab values and findings stay text, parsed one by one by the
-- mapping to canonical measurements and conditions. Cast failures are
-- flagged.

with

source as (

    select * from {{ source('pbc', 'pbc_baseline') }}

),

typed as (

    select
        -- ids
        file_row_number + 2 as source_line,
        synth_fn.parse_integer(id) as person_id,

        -- demographics and outcome
        floor(try_cast(synth_fn.clean_text(age) as double))::integer
            as age_years,
        case lower(synth_fn.clean_text(sex))
            when 'f' then 'F' when 'm' then 'M'
        end as sex,
        synth_fn.parse_integer(time)::integer as followup_days,
        {{- parse_declared_dates('pbc_baseline') }}
        synth_fn.normalise_code(status) as status_code,
        synth_fn.normalise_code(trt) as treatment_code,

        -- findings (0/1; edema 0, 0.5, 1), as text
        ascites as ascites_text,
        hepato as hepato_text,
        spiders as spiders_text,
        edema as edema_text,

        -- labs, as text
        bili as bili_text,
        chol as chol_text,
        albumin as albumin_text,
        copper as copper_text,
        "alk.phos" as alk_phos_text,
        ast as ast_text,
        trig as trig_text,
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
            when age_years is null then 'age is missing or not a number'
            when sex is null then 'sex is not f or m'
            when followup_days is null
                then 'time is missing or not a whole number'
            when status_code not in ('0', '1', '2')
                then 'status is not 0, 1 or 2'
            {{- declared_date_problems('pbc_baseline') }}
        end as reject_reason

    from typed

)

select * from flagged
