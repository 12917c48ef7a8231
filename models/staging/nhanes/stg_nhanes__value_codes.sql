-- One row per value label of the NHANES codebook; missing_reason names the
-- labels that stand for no answer (refused, don't know).

with

source as (

    select * from {{ source('nhanes', 'nhanes_value_codes') }}

),

renamed as (

    select
        file_row_number + 2 as source_line,
        synth_fn.clean_text(variable) as variable,
        synth_fn.clean_text(source) as nhanes_source,
        synth_fn.normalise_code(code) as code,
        synth_fn.clean_text(label) as label,
        case
            when lower(label) = 'refused' then 'refused'
            when replace(lower(label), '''', '') = 'dont know'
                then 'don''t know'
        end as missing_reason

    from source

)

select * from renamed
