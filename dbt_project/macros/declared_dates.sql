{#- Calendar dates in a source table, read with the format the configuration
    declares for them (sources.date_formats.<table>.<column>: a strptime format
    such as '%d/%m/%Y'). Nothing is guessed: a column without a declared format
    stays text, and a value that does not match its format is a reject that
    names the column, the value and the format. A format with a time of day
    (%H, %M, %S, %f ...) gives a timestamp, any other a date. -#}

{#- The declared date columns of a source table: (column, format, sql_type). -#}
{% macro declared_dates(table) -%}
    {%- set formats = synth_setting('sources.date_formats', {}) or {} -%}
    {%- set found = [] -%}
    {%- for column, fmt in (formats.get(table) or {}).items() -%}
        {%- set has_time = modules.re.search('%-?[HIklMSfgnpzZsTXc]', fmt) -%}
        {%- do found.append(
            (column, fmt, 'timestamp' if has_time else 'date')) -%}
    {%- endfor -%}
    {{ return(found) }}
{%- endmacro %}

{#- Select-list lines for a staging model's typed CTE: each declared date
    column parsed with its format, and its raw text beside it as
    <column>_text (for the reject reason). -#}
{% macro parse_declared_dates(table) -%}
    {%- for column, fmt, sql_type in declared_dates(table) %}
        synth_fn.parse_{{ sql_type }}(
            {{ adapter.quote(column) }}, {{ dbt.string_literal(fmt) }}
        ) as {{ column }},
        {{ adapter.quote(column) }} as {{ column }}_text,
    {%- endfor %}
{%- endmacro %}

{#- `when` branches of a staging model's reject_reason: a declared date whose
    text is there but does not match the format. -#}
{% macro declared_date_problems(table) -%}
    {%- for column, fmt, sql_type in declared_dates(table) %}
            when
                {{ column }} is null
                and synth_fn.clean_text({{ column }}_text) is not null
                then {{ dbt.string_literal(
                    column ~ ' is not a ' ~ sql_type ~ ' in the declared format '
                    ~ fmt ~ ': ') }} || {{ column }}_text
    {%- endfor %}
{%- endmacro %}

{#- The parsed date columns, for a staging model's final select list. -#}
{% macro declared_date_columns(table) -%}
    {%- for column, fmt, sql_type in declared_dates(table) %}
    {{ column }},
    {%- endfor %}
{%- endmacro %}

{#- For sources whose staging passes every column through untyped (the NHANES
    components): a declared date there would be read as a survey answer, so it
    is refused rather than ignored. -#}
{% macro refuse_declared_dates(table) -%}
    {%- if declared_dates(table) -%}
        {{ exceptions.raise_compiler_error(
            "sources.date_formats." ~ table ~ ": the staging model of " ~ table
            ~ " does not read calendar dates; remove the key.") }}
    {%- endif -%}
{%- endmacro %}
