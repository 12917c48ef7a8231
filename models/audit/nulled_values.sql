-- One row per value that was set to NULL because it lies outside its plausible range;
-- the row it belongs to is kept.

with

persons as (

    select * from {{ ref('int_persons') }}

),

unpivoted as (

    select
        'nafld1_persons' as source_name,
        source_line,
        person_id,
        'height' as column_name,
        raw_height_cm as raw_value
    from persons
    where raw_height_cm is not null and height_cm is null

    union all

    select
        'nafld1_persons',
        source_line,
        person_id,
        'weight',
        raw_weight_kg
    from persons
    where raw_weight_kg is not null and weight_kg is null

    union all

    select
        'nafld1_persons',
        source_line,
        person_id,
        'bmi',
        raw_bmi_kg_m2
    from persons
    where raw_bmi_kg_m2 is not null and bmi_kg_m2 is null

)

select
    *,
    'value outside the plausible range of ' || column_name as reason

from unpivoted
