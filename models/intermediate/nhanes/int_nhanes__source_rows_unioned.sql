-- One row per row of every NHANES source table (components and codebook), with
-- the reason staging could not use it; the base of audit.source_row_counts.

{%- set tables = [
    'demographics', 'examination', 'laboratory', 'medical_conditions',
    'questionnaire',
] %}

with

{% for table in tables %}
{{ table }} as (

    select * from {{ ref('stg_nhanes__' ~ table) }}

),

{% endfor %}
variables as (

    select * from {{ ref('stg_nhanes__variables') }}

),

value_codes as (

    select * from {{ ref('stg_nhanes__value_codes') }}

),

unioned as (

    {%- for table in tables %}
    select
        'nhanes_{{ table }}' as source_name,
        source_line,
        person_id,
        reject_reason
    from {{ table }}

    union all
    {%- endfor %}

    select
        'nhanes_variables' as source_name,
        source_line,
        null::bigint as person_id,
        null::varchar as reject_reason
    from variables

    union all

    select
        'nhanes_value_codes' as source_name,
        source_line,
        null::bigint as person_id,
        null::varchar as reject_reason
    from value_codes

)

select * from unioned
