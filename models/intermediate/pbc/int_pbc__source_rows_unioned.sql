-- One row per row of both PBC source files, with the reason staging could not
-- use it; the base of the row accounting in audit.source_row_counts.

with

baseline as (

    select * from {{ ref('stg_pbc__baseline') }}

),

visits as (

    select * from {{ ref('stg_pbc__visits') }}

),

unioned as (

    select
        'pbc_baseline' as source_name,
        source_line,
        person_id,
        reject_reason
    from baseline

    union all

    select
        'pbcseq_visits' as source_name,
        source_line,
        person_id,
        reject_reason
    from visits

)

select * from unioned
