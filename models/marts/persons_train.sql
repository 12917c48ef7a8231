-- One row per person of the train split: what the generator may learn from.
{{ config(materialized='view') }}

select * exclude (split) from {{ ref('persons') }}
where split = 'train'
