-- One row per person with at least one reading on or before the index date: the last
-- value of each measurement on or before day 0, and ever smoking on or before day 0.

with

measurements as (

    select * from {{ ref('int_measurements') }}
    where day_offset <= 0

),

last_values as (

    select
        person_id,
        measurement,
        arg_max(result_value, day_offset) as last_value,
        max(result_value) as max_value

    from measurements
    group by person_id, measurement

),

pivoted as (

    select
        person_id,
        max(last_value) filter (where measurement = 'hdl') as hdl_mg_dl,
        max(last_value) filter (where measurement = 'systolic_bp') as sbp_mmhg,
        max(last_value) filter (where measurement = 'fib4') as fib4_score,
        max(max_value) filter (where measurement = 'smoking') = 1 as is_smoker

    from last_values
    group by person_id

)

select * from pivoted
