-- One row per row of the NAFLD persons file, in the canonical person shape.
-- Times are day offsets from the person's index date (day 0); there are no
-- calendar dates in this extract.

with

persons as (

    select * from {{ ref('stg_nafld__persons') }}

),

mapped as (

    select
        'nafld1_persons' as source_name,
        source_line,
        person_id,
        sex,
        age_years,
        '=' as age_qualifier,
        null::integer as birth_year,
        null::date as index_date,
        reject_reason

    from persons

)

select * from mapped
