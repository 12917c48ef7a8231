{#- The dataset being built: var('dataset') when given, else the name of the
    configuration file (configs/nhanes.yml -> nhanes). Only that dataset's staging
    and mapping models are enabled (see dbt_project.yml). -#}
{% macro synth_dataset() -%}
    {%- set stem = var('config_path').replace('\\', '/').split('/')[-1] -%}
    {{ return(var('dataset', stem.split('.')[0])) }}
{%- endmacro %}

{#- A reference to the current dataset's model of a given kind, for example
    dataset_ref('measurements_mapped') -> ref('int_nafld__measurements_mapped'). -#}
{% macro dataset_ref(kind) -%}
    {{ return(ref('int_' ~ synth_dataset() ~ '__' ~ kind)) }}
{%- endmacro %}
