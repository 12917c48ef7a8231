-- One row per person: demographics, the last reading of each measurement on or before
-- the index date, diagnosis flags on or before the index date, follow-up and death, and
-- the fixed train / holdout split. The split comes from the configuration's
-- split.seed and split.holdout_fraction, through an md5 hash of the person id, so the
-- same person always lands on the same side.

{%- set seed = synth_setting('split.seed', 0) %}
{%- set holdout_fraction = synth_setting('split.holdout_fraction', 0.2) %}

with

persons as (

    select * from {{ ref('int_persons') }}

),

measurements as (

    select * from {{ ref('int_person_measurements_at_index') }}

),

conditions as (

    select * from {{ ref('int_person_conditions_at_index') }}

),

joined as (

    select
        -- ids
        persons.person_id,

        -- demographics and body size
        persons.age_years,
        persons.sex,
        persons.height_cm,
        persons.weight_kg,
        persons.bmi_kg_m2,

        -- last readings on or before the index date
        measurements.hdl_mg_dl,
        measurements.sbp_mmhg::integer as sbp_mmhg,
        measurements.fib4_score,
        measurements.is_smoker,

        -- diagnoses on or before the index date
        coalesce(conditions.has_diabetes, false) as has_diabetes,
        coalesce(conditions.has_hypertension, false) as has_hypertension,
        coalesce(conditions.has_dyslipidemia, false) as has_dyslipidemia,
        coalesce(conditions.has_myocardial_infarction, false)
            as has_myocardial_infarction,
        coalesce(conditions.has_angina, false) as has_angina,
        coalesce(conditions.has_atrial_fibrillation, false)
            as has_atrial_fibrillation,
        coalesce(conditions.has_heart_failure, false) as has_heart_failure,
        coalesce(conditions.has_stroke, false) as has_stroke,
        coalesce(conditions.has_cardiac_arrest, false) as has_cardiac_arrest,

        -- study design and outcome
        coalesce(persons.matched_case_id = persons.person_id, false)
            as is_nafld_case,
        persons.followup_days,
        persons.is_dead

    from persons
    left join measurements on persons.person_id = measurements.person_id
    left join conditions on persons.person_id = conditions.person_id

),

split as (

    select
        *,
        case
            when
                md5_number(person_id::varchar || '-' || '{{ seed }}') % 1000000
                < {{ holdout_fraction }} * 1000000
                then 'holdout'
            else 'train'
        end as split

    from joined

)

select * from split
