-- One row per NHANES value label that looks cut off: labels read out as part
-- of a list of answers keep the list's separator ("Fair, or", "Very good,",
-- "soy milk, or"). The label is kept as exported; label_trimmed is the label
-- without the trailing separator, for display.

with

value_codes as (

    select * from {{ ref('stg_nhanes__value_codes') }}

),

flagged as (

    select
        variable,
        nhanes_source,
        code,
        label,
        regexp_replace(label, '\s*,?\s*(\bor|\band)?\s*$', '') as label_trimmed,
        case
            when regexp_matches(label, ',\s*(or|and)\s*$')
                then 'ends in a list separator (", or" / ", and")'
            when regexp_matches(label, ',\s*$')
                then 'ends in a comma'
            when regexp_matches(label, '\s(or|and)\s*$')
                then 'ends in a conjunction (or / and)'
        end as issue

    from value_codes

)

select * from flagged
where issue is not null
