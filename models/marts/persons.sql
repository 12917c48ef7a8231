-- One row per person of the selected dataset, with the columns the
-- configuration's mart.columns declares, and the fixed train / holdout
-- split. Every column's select expression is written by the macros in
-- dbt_project/macros/mart.sql from its `derive` setting: a person or death
-- attribute, an aggregate of a measurement in a window before the index
-- date, any diagnosis under an ICD-10 prefix, block or chapter, an answer to
-- a questionnaire item. The split comes from split.seed and
-- split.holdout_fraction through an md5 hash of the person id, so the same
-- person always lands on the same side.

{%- set seed = synth_setting('split.seed', 0) %}
{%- set holdout_fraction = synth_setting('split.holdout_fraction', 0.2) %}
{%- set split_column = synth_setting('mart.split_column', 'split') %}
{%- set columns = synth_setting('mart.columns', {}) %}
{%- set measured = mart_columns_from('measurement') %}
{%- set diagnosed = mart_columns_from('condition') %}
{%- set answered = mart_columns_from('survey') %}
{%- set died = mart_columns_from('death') %}

{#- Feature tables the configuration does not use are left out; dbt still
    builds every canonical table first. #}
-- depends_on: {{ ref('death') }}, {{ ref('measurement') }}
-- depends_on: {{ ref('condition') }}, {{ ref('survey') }}

with

persons as (

    select * from {{ ref('person') }}

),
{%- if died %}

deaths as (

    select * from {{ ref('death') }}

),
{%- endif %}
{%- if measured %}

measurements as (

    select * from {{ ref('measurement') }}

),
{%- endif %}
{%- if diagnosed %}

conditions as (

    select * from {{ ref('condition') }}

),
{%- endif %}
{%- if answered %}

answers as (

    select * from {{ ref('survey') }}

),
{%- endif %}
{%- if measured %}

measurement_features as (

    select
        {%- for name, spec in measured %}
        {{ mart_measurement_feature(spec['derive']) }} as {{ name }},
        {%- endfor %}
        person_id

    from measurements
    group by person_id

),
{%- endif %}
{%- if diagnosed %}

condition_features as (

    select
        {%- for name, spec in diagnosed %}
        {{ mart_condition_feature(spec['derive']) }} as {{ name }},
        {%- endfor %}
        person_id

    from conditions
    group by person_id

),
{%- endif %}
{%- if answered %}

survey_features as (

    select
        {%- for name, spec in answered %}
        {{ mart_survey_feature(spec['derive']) }} as {{ name }},
        {%- endfor %}
        person_id

    from answers
    group by person_id

),
{%- endif %}

raw_values as (

    select
        {%- for name, spec in columns.items() %}
        {%- set derive = spec['derive'] %}
        {%- set alias = '' if derive.get('column') == name else ' as ' ~ name %}
        {%- if derive['from'] == 'person' %}
        persons.{{ derive['column'] }}{{ alias }},
        {%- elif derive['from'] == 'death' %}
        deaths.{{ derive['column'] }}{{ alias }},
        {%- elif derive['from'] == 'measurement' %}
        measurement_features.{{ name }},
        {%- elif derive['from'] == 'condition' %}
        condition_features.{{ name }},
        {%- elif derive['from'] == 'survey' %}
        survey_features.{{ name }},
        {%- endif %}
        {%- endfor %}
        persons.person_id as person_key

    from persons
    {% if died %}
    left join deaths on persons.person_id = deaths.person_id
    {% endif %}
    {% if measured %}
    left join measurement_features
        on persons.person_id = measurement_features.person_id
    {% endif %}
    {% if diagnosed %}
    left join condition_features
        on persons.person_id = condition_features.person_id
    {% endif %}
    {% if answered %}
    left join survey_features on persons.person_id = survey_features.person_id
    {% endif %}

),

finished as (

    select
        {%- for name, spec in columns.items() %}
        {{ mart_finish(name, spec) }} as {{ name }},
        {%- endfor %}
        raw_values.person_key

    from raw_values

),

split as (

    select
        *,
        case
            when
                md5_number(person_key::varchar || '-' || '{{ seed }}') % 1000000
                < {{ holdout_fraction }} * 1000000
                then 'holdout'
            else 'train'
        end as {{ split_column }}

    from finished

)

-- In person order, so that every build of the same sources is the same table.
select * exclude (person_key) from split
order by person_key
