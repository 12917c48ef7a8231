{#- The dataset configuration, read from the YAML file named by var('config_path').
    dbt cannot read files itself, so DuckDB's read_text loads it at run time; while
    dbt only parses the project, an empty mapping stands in. -#}
{% macro synth_config() -%}
    {%- if not execute -%}
        {{ return({}) }}
    {%- endif -%}
    {%- set sql -%}
        select content from read_text({{ dbt.string_literal(var('config_path')) }})
    {%- endset -%}
    {%- set rows = run_query(sql).columns[0].values() -%}
    {%- if rows | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "The configuration file " ~ var('config_path') ~ " (var config_path) "
            ~ "does not exist; pass --vars '{config_path: <file>}'.") }}
    {%- endif -%}
    {%- set content = rows[0] -%}
    {{ return(fromyaml(content)) }}
{%- endmacro %}

{#- One setting from the configuration, by dotted key, with a default. A namespace
    carries the current node across loop iterations (a plain `set` inside a Jinja
    loop does not outlive its iteration). -#}
{% macro synth_setting(dotted_key, default) -%}
    {%- set state = namespace(node=synth_config(), found=true) -%}
    {%- for part in dotted_key.split('.') -%}
        {%- if state.found and state.node is mapping and part in state.node -%}
            {%- set state.node = state.node[part] -%}
        {%- else -%}
            {%- set state.found = false -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(state.node if state.found else default) }}
{%- endmacro %}
