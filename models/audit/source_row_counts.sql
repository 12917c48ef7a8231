-- One row per source table of the selected dataset: rows in the file, rows
-- read, kept, rejected and removed as exact duplicates. The tests beside
-- this model check that nothing is lost: rows_read = rows_kept +
-- rows_rejected + rows_duplicate, and rows_read = rows_in_file.

{%- set tables = synth_setting('sources.tables', []) %}
{%- set data_dir = var('data_dir', '../data/' ~ synth_dataset()) %}

with

source_rows as (

    select * from {{ dataset_ref('source_rows_unioned') }}

),

rejects as (

    select * from {{ ref('rejects') }}

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

file_counts as (

    select
        null::varchar as source_name,
        null::bigint as rows_in_file
    where false
    {%- for table in tables %}

    union all

    select
        '{{ table }}' as source_name,
        count(*) as rows_in_file
    from read_parquet('{{ data_dir }}/{{ table }}.parquet')
    {%- endfor %}

),

rejected_rows as (

    select distinct
        source_name,
        source_line
    from rejects

),

duplicate_rows as (

    select
        source_name,
        source_line
    from persons
    where is_duplicate

    union

    select
        source_name,
        source_line
    from measurements
    where is_row_record and is_duplicate

    union

    select
        source_name,
        source_line
    from conditions
    where is_row_record and is_duplicate

    union

    select
        source_name,
        source_line
    from answers
    where is_row_record and is_duplicate

),

outcomes as (

    select
        source_rows.source_name,
        rejected_rows.source_line is not null as is_rejected,
        rejected_rows.source_line is null
        and duplicate_rows.source_line is not null as is_duplicate

    from source_rows
    left join rejected_rows
        on
            source_rows.source_name = rejected_rows.source_name
            and source_rows.source_line = rejected_rows.source_line
    left join duplicate_rows
        on
            source_rows.source_name = duplicate_rows.source_name
            and source_rows.source_line = duplicate_rows.source_line

),

counted as (

    select
        source_name,
        count(*) as rows_read,
        count(*) filter (where not is_rejected and not is_duplicate)
            as rows_kept,
        count(*) filter (where is_rejected) as rows_rejected,
        count(*) filter (where is_duplicate) as rows_duplicate

    from outcomes
    group by source_name

),

joined as (

    select
        file_counts.source_name,
        file_counts.rows_in_file,
        coalesce(counted.rows_read, 0) as rows_read,
        coalesce(counted.rows_kept, 0) as rows_kept,
        coalesce(counted.rows_rejected, 0) as rows_rejected,
        coalesce(counted.rows_duplicate, 0) as rows_duplicate

    from file_counts
    left join counted on file_counts.source_name = counted.source_name

)

select * from joined
