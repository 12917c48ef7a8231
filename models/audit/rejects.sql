-- One row per source row that could not be used: the source table, the row's
-- line in the original file (header = line 1), the column at fault where
-- there is one, the raw value and the reason. A row that carries several
-- values (a wide row) is rejected only when the row itself is unusable; a
-- single bad value of such a row is set to NULL instead and listed in
-- audit.value_changes.

with

source_rows as (

    select * from {{ dataset_ref('source_rows_unioned') }}

),

persons as (

    select * from {{ ref('int_persons__validated') }}

),

measurements as (

    select * from {{ ref('int_measurements__validated') }}

),

conditions as (

    select * from {{ ref('int_conditions__validated') }}

),

answers as (

    select * from {{ ref('int_survey__validated') }}

),

staging_rejects as (

    select
        source_name,
        source_line,
        person_id,
        null::varchar as column_name,
        null::varchar as raw_value,
        reject_reason
    from source_rows
    where reject_reason is not null

),

record_rejects as (

    select
        source_name,
        source_line,
        person_id,
        null::varchar as column_name,
        null::varchar as raw_value,
        problem as reject_reason
    from persons
    where problem is not null and staging_reason is null

    union all

    select
        source_name,
        source_line,
        person_id,
        column_name,
        raw_value,
        problem as reject_reason
    from measurements
    where is_row_record and problem is not null and staging_reason is null

    union all

    select
        source_name,
        source_line,
        person_id,
        null as column_name,
        source_code as raw_value,
        problem as reject_reason
    from conditions
    where is_row_record and problem is not null and staging_reason is null

    union all

    select
        source_name,
        source_line,
        person_id,
        item as column_name,
        raw_answer as raw_value,
        problem as reject_reason
    from answers
    where is_row_record and problem is not null and staging_reason is null

),

unioned as (

    select * from staging_rejects
    union all
    select * from record_rejects

)

select * from unioned
