-- One row per variable of the NHANES codebook: its source table, labels and the
-- age band it was asked of (from the target group text, "... 20 YEARS - 150
-- YEARS").

with

source as (

    select * from {{ source('nhanes', 'nhanes_variables') }}

),

renamed as (

    select
        file_row_number + 2 as source_line,
        synth_fn.clean_text(variable) as variable,
        synth_fn.clean_text(source) as nhanes_source,
        synth_fn.clean_text(variablenamelong) as long_name,
        synth_fn.clean_text(saslabel) as label,
        synth_fn.clean_text(englishtext) as question,
        synth_fn.clean_text(recoded) = 'True' as is_recoded,
        try_cast(
            regexp_extract(target, '([0-9]+) YEARS', 1) as integer
        ) as target_min_age,
        try_cast(
            regexp_extract(target, '- *([0-9]+) YEARS', 1) as integer
        ) as target_max_age

    from source

)

select * from renamed
