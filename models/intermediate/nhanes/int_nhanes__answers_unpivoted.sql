-- One row per non-blank value of every NHANES component table: source table,
-- line, person, NHANES variable and the raw text, with missing_reason when
-- the value is a code for no answer (a value label Refused / Don't know for
-- that variable, or the label text itself where the export recoded codes to
-- labels).

{%- set tables = [
    'demographics', 'examination', 'laboratory', 'medical_conditions',
    'questionnaire',
] %}

with

{% for table in tables %}
{{ table }} as (

    select * from {{ ref('stg_nhanes__' ~ table) }}
    where reject_reason is null

),

{% endfor %}
value_codes as (

    select * from {{ ref('stg_nhanes__value_codes') }}
    where missing_reason is not null

),

unpivoted as (

    {%- for table in tables %}
    select
        'nhanes_{{ table }}' as source_name,
        source_line,
        person_id,
        variable,
        raw_value
    from (
        unpivot (
            select * exclude (reject_reason{{ ', sex, age_years, age_qualifier'
                if table == 'demographics' }})
            from {{ table }}
        )
        on columns(* exclude (source_line, person_id))
        into name variable value raw_value
    )
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}

),

coded as (

    select
        unpivoted.source_name,
        unpivoted.source_line,
        unpivoted.person_id,
        upper(unpivoted.variable) as variable,
        unpivoted.raw_value,
        coalesce(
            value_codes.missing_reason,
            case
                when lower(synth_fn.clean_text(unpivoted.raw_value)) = 'refused'
                    then 'refused'
                when
                    replace(
                        lower(synth_fn.clean_text(unpivoted.raw_value)),
                        '''',
                        ''
                    ) = 'dont know'
                    then 'don''t know'
            end
        ) as missing_reason

    from unpivoted
    left join value_codes
        on
            upper(unpivoted.variable) = value_codes.variable
            and synth_fn.normalise_code(unpivoted.raw_value) = value_codes.code
    where synth_fn.clean_text(unpivoted.raw_value) is not null

)

select * from coded
