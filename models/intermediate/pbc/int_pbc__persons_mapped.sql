-- One row per row of the PBC baseline file, in the canonical person shape; the
-- index date is enrolment (day 0) and there are no calendar dates.

with

baseline as (

    select * from {{ ref('stg_pbc__baseline') }}

),

mapped as (

    select
        'pbc_baseline' as source_name,
        source_line,
        person_id,
        sex,
        age_years,
        '=' as age_qualifier,
        null::integer as birth_year,
        null::date as index_date,
        reject_reason

    from baseline

)

select * from mapped
