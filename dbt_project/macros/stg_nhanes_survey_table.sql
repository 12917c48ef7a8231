{#- The staging select of one wide NHANES survey table: SEQN cast to person_id and
    flagged when it is not a whole number; every survey variable stays text under its
    NHANES name (the codebook says how each is read, see
    int_nhanes__answers_unpivoted). The source file, not the model, fixes how many
    columns there are. -#}
{% macro stg_nhanes_survey_table(table_name) %}

{{ refuse_declared_dates(table_name) }}

with

source as (

    select * from {{ source('nhanes', table_name) }}

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

select * from flagged  -- noqa: AM04

{% endmacro %}
