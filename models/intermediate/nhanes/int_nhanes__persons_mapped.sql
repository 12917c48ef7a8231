-- One row per row of the NHANES demographics table, in the canonical person
-- shape; the index date is the examination (day 0) and there are no calendar
-- dates.

with

demographics as (

    select * from {{ ref('stg_nhanes__demographics') }}

),

mapped as (

    select
        'nhanes_demographics' as source_name,
        source_line,
        person_id,
        sex,
        age_years,
        age_qualifier,
        null::integer as birth_year,
        null::date as index_date,
        reject_reason

    from demographics

)

select * from mapped
