{#- A generic test: every row of the model satisfies a SQL boolean expression.
    Fails with the rows where it does not hold. -#}
{% test expression_is_true(model, expression) %}

select *
from {{ model }}
where not ({{ expression }})

{% endtest %}
