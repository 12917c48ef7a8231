-- One row per person of the train split (the split column left out): what the
-- generator may learn from.
{{ config(materialized='view') }}

{%- set split_column = synth_setting('mart.split_column', 'split') %}
{%- set columns = synth_setting('mart.columns', {}) %}

select
    {{ columns.keys() | join(',\n    ') }}
from {{ ref('persons') }}
where {{ split_column }} = 'train'
