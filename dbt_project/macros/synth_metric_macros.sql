{#- Create the metric macros of ../sql/ in the database, as persistent macros, so that
    an analyst can call them from any connection (read-only ones too) and dbt models or
    analyses can use them. Runs at the end of every dbt build (on-run-end). -#}
{% macro synth_metric_macros() %}
    {%- if execute -%}
        {%- set sql_dir = var('sql_dir', '../sql') -%}
        {%- set files -%}
            select filename, content
            from read_text({{ dbt.string_literal(sql_dir ~ '/*.sql') }})
            order by filename
        {%- endset -%}
        {%- for row in run_query(files).rows -%}
            {%- do run_query(
                row[1] | replace(
                    'create or replace temp macro', 'create or replace macro'
                )
            ) -%}
        {%- endfor -%}
    {%- endif -%}
{% endmacro %}
