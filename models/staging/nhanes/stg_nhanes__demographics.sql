-- One row per row of the NHANES demographics table (DEMO): SEQN, gender and age
-- cast and renamed; the other variables stay text under their NHANES names.
-- Age is top-coded at 80 (80 means 80 or older).

{{ refuse_declared_dates('nhanes_demographics') }}

with

source as (

    select * from {{ source('nhanes', 'nhanes_demographics') }}

),

typed as (

    select
        file_row_number + 2 as source_line,
        synth_fn.parse_integer(seqn) as person_id,
        case synth_fn.clean_text(riagendr)
            when 'Male' then 'M' when 'Female' then 'F'
        end as sex,
        synth_fn.parse_integer(ridageyr)::integer as age_years,
        -- RIDAGEYR is top-coded: 80 stands for 80 years and over, kept as the
        -- bound with '>=' the way a censored lab value keeps its bound.
        case
            when synth_fn.parse_integer(ridageyr) >= 80 then '>='
            when synth_fn.parse_integer(ridageyr) is not null then '='
        end as age_qualifier,
        * exclude (seqn, riagendr, ridageyr, file_row_number)

    from source

),

flagged as (

    select
        *,
        case
            when person_id is null
                then 'SEQN is missing or not a whole number'
            when sex is null then 'RIAGENDR is not Male or Female'
            when age_years is null
                then 'RIDAGEYR is missing or not a whole number'
        end as reject_reason

    from typed

)

-- The survey variables pass through under their NHANES names: the source file,
-- not this model, fixes how many columns there are.
select * from flagged  -- noqa: AM04
