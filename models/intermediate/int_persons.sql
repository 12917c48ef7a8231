-- One row per usable person. Body measurements outside their plausible range
-- (reference.measurement_codes) are set to NULL here and listed in audit.nulled_values;
-- the person is kept. BMI is computed from weight and height where it is missing.

with

persons as (

    select * from {{ ref('stg_nafld__persons') }}
    where reject_reason is null

),

ranges as (

    select * from {{ ref('measurement_codes') }}

),

checked as (

    select
        persons.person_id,
        persons.source_line,
        persons.matched_case_id,
        persons.age_years,
        persons.sex,
        persons.followup_days,
        persons.is_dead,
        persons.height_cm as raw_height_cm,
        persons.weight_kg as raw_weight_kg,
        persons.bmi_kg_m2 as raw_bmi_kg_m2,
        case
            when persons.height_cm between height.plausible_min and height.plausible_max
                then persons.height_cm
        end as height_cm,
        case
            when persons.weight_kg between weight.plausible_min and weight.plausible_max
                then persons.weight_kg
        end as weight_kg,
        bmi.plausible_min as bmi_min,
        bmi.plausible_max as bmi_max

    from persons
    cross join (select * from ranges where measurement = 'height') as height
    cross join (select * from ranges where measurement = 'weight') as weight
    cross join (select * from ranges where measurement = 'bmi') as bmi

),

with_bmi as (

    select
        *,
        coalesce(raw_bmi_kg_m2, weight_kg / ((height_cm / 100) ^ 2))
            as candidate_bmi_kg_m2

    from checked

),

final as (

    select
        person_id,
        source_line,
        matched_case_id,
        age_years,
        sex,
        height_cm,
        weight_kg,
        case
            when candidate_bmi_kg_m2 between bmi_min and bmi_max
                then candidate_bmi_kg_m2
        end as bmi_kg_m2,
        followup_days,
        is_dead,
        raw_height_cm,
        raw_weight_kg,
        raw_bmi_kg_m2

    from with_bmi

)

select * from final
