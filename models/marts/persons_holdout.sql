-- One row per person of the holdout split (the split column left out): never
-- seen by the generator; fidelity, utility and privacy are judged against
-- it.
{{ config(materialized='view') }}

{%- set split_column = synth_setting('mart.split_column', 'split') %}
{%- set columns = synth_setting('mart.columns', {}) %}

select
    {{ columns.keys() | join(',\n    ') }}
from {{ ref('persons') }}
where {{ split_column }} = 'holdout'
