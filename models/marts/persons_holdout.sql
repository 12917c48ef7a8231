-- One row per person of the holdout split: never seen by the generator; fidelity,
-- utility and privacy are judged against it.
{{ config(materialized='view') }}

select * exclude (split) from {{ ref('persons') }}
where split = 'holdout'
