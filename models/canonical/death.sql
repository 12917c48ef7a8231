-- One row per person with known follow-up: whether the person died during
-- follow-up, the last day of follow-up and the day of death (day offsets).

with

deaths as (

    select * from {{ dataset_ref('deaths_mapped') }}

),

persons as (

    select * from {{ ref('person') }}

),

kept as (

    select
        deaths.person_id,
        deaths.is_dead,
        deaths.followup_days,
        deaths.death_day,
        deaths.source_name,
        deaths.source_line

    from deaths
    inner join persons on deaths.person_id = persons.person_id
    qualify
        row_number() over (
            partition by deaths.person_id order by deaths.source_line
        ) = 1

)

select * from kept
