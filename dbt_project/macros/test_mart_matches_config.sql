{#- A generic test on a mart: every column the configuration declares is present,
    its non-null values lie within its lower / upper bounds, a column with a
    missing-value default has no NULLs, and a structurally missing column is NULL
    wherever structural_missing.when holds. Fails with one row per breach. -#}
{% test mart_matches_config(model) %}

{%- set columns = synth_setting('mart.columns', {}) %}

select
    null::varchar as column_name,
    null::varchar as problem,
    0 as rows_at_fault
where false
{%- for name, spec in columns.items() %}
{%- if spec.get('lower') is not none %}

union all
select '{{ name }}', 'below lower bound {{ spec["lower"] }}', count(*)
from {{ model }}
where {{ name }} < {{ spec['lower'] }}
having count(*) > 0
{%- endif %}
{%- if spec.get('upper') is not none %}

union all
select '{{ name }}', 'above upper bound {{ spec["upper"] }}', count(*)
from {{ model }}
where {{ name }} > {{ spec['upper'] }}
having count(*) > 0
{%- endif %}
{%- if (spec.get('missing') or {}).get('value') is not none
    and not (spec.get('structural_missing') or {}).get('when') %}

union all
select '{{ name }}', 'NULL despite a missing-value default', count(*)
from {{ model }}
where {{ name }} is null
having count(*) > 0
{%- endif %}
{%- if (spec.get('structural_missing') or {}).get('when') %}

union all
select '{{ name }}', 'not NULL where structurally missing', count(*)
from {{ model }}
where ({{ spec['structural_missing']['when'] }}) and {{ name }} is not null
having count(*) > 0
{%- endif %}
{%- endfor %}

{% endtest %}
