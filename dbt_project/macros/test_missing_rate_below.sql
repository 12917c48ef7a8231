{#- A generic test: the share of NULLs in the column stays at or below max_rate.
    Sits beside accepted_values, which lets NULLs pass. -#}
{% test missing_rate_below(model, column_name, max_rate) %}

select missing_rate
from (
    select avg(({{ column_name }} is null)::integer) as missing_rate
    from {{ model }}
)
where missing_rate > {{ max_rate }}

{% endtest %}
