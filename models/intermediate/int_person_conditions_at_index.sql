-- One row per person with at least one diagnosis on or before the index date: a flag
-- per condition.

with

conditions as (

    select * from {{ ref('int_conditions') }}
    where day_offset <= 0

),

flags as (

    select
        person_id,
        bool_or(condition = 'diabetes') as has_diabetes,
        bool_or(condition = 'hypertension') as has_hypertension,
        bool_or(condition = 'dyslipidemia') as has_dyslipidemia,
        bool_or(condition = 'myocardial_infarction') as has_myocardial_infarction,
        bool_or(condition = 'angina') as has_angina,
        bool_or(condition = 'atrial_fibrillation') as has_atrial_fibrillation,
        bool_or(condition = 'heart_failure') as has_heart_failure,
        bool_or(condition = 'stroke') as has_stroke,
        bool_or(condition = 'cardiac_arrest') as has_cardiac_arrest

    from conditions
    group by person_id

)

select * from flags
