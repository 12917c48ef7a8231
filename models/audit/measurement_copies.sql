-- One row per pair of measurements read on the same person and day: how many
-- such readings they share and how many are identical. A pair identical on
-- every shared reading is a copy error in the extract (is_copy); the copy is
-- not used in the mart.

with

measurements as (

    select * from {{ ref('measurement') }}

),

paired as (

    select
        a.measurement as measurement_a,
        b.measurement as measurement_b,
        count(*) as shared_readings,
        count(*) filter (where a.result_value = b.result_value)
            as identical_readings

    from measurements as a
    inner join measurements as b
        on
            a.person_id = b.person_id
            and a.day_offset = b.day_offset
            and a.measurement < b.measurement
    group by a.measurement, b.measurement

)

select
    *,
    shared_readings >= 10 and identical_readings = shared_readings as is_copy

from paired
