-- The canonical death shape for NHANES: empty, since this release carries no
-- mortality linkage (NCHS publishes it separately).

select
    null::varchar as source_name,
    null::bigint as source_line,
    null::bigint as person_id,
    null::boolean as is_dead,
    null::integer as followup_days,
    null::integer as death_day

where false
