-- One row per row of the NHANES examination table: SEQN cast to person_id and
-- flagged when it is not a whole number; every survey variable stays text under
-- its NHANES name (the codebook says how each is read, see
-- int_nhanes__answers_unpivoted).

{{ refuse_declared_dates('nhanes_examination') }}

with

source as (

    select * from {{ source('nhanes', 'nhanes_examination') }}

),

typed as (

    select
        file_row_number + 2 as source_line,
        synth_fn.parse_integer(seqn) as person_id,
        * exclude (seqn, file_row_number)

    from source

),

flagged as (

    select
        *,
        case
            when person_id is null
                then 'SEQN is missing or not a whole number'
        end as reject_reason

    from typed

)

-- The survey variables pass through under their NHANES names: the source file,
-- not this model, fixes how many columns there are.
select * from flagged  -- noqa: AM04
