{#- Create the parsing functions (duckdb_macros/parsing.sql, DuckDB macros in the schema
    synth_fn) before anything is built. DuckDB reads the file, since dbt cannot;
    the path is relative to the folder dbt runs in (dbt_project/). -#}
{% macro load_functions() -%}
    {%- if execute -%}
        {%- set sql -%}
            select content
            from read_text({{ dbt.string_literal(var('functions_path')) }})
        {%- endset -%}
        {%- set content = run_query(sql).columns[0].values()[0] -%}
        {%- do run_query(content) -%}
    {%- endif -%}
    select 1
{%- endmacro %}
