-- One row per mapped measured value of the selected dataset, converted to
-- the measurement's unit (reference.unit_conversions), with every reason it
-- cannot be used: staging and parsing problems, survey missing codes, an
-- unknown code, a person not in the person table, a value outside the
-- plausible range of the measurement (reference.measurement_codes); and
-- is_duplicate for the same value of the same code, person and day seen on
-- an earlier row.

with

mapped as (

    select * from {{ dataset_ref('measurements_mapped') }}

),

codes as (

    select * from {{ ref('measurement_codes') }}
    where dataset = '{{ synth_dataset() }}'

),

conversions as (

    select * from {{ ref('unit_conversions') }}

),

persons as (

    select person_id from {{ ref('int_persons__validated') }}
    where problem is null and not is_duplicate

),

joined as (

    select
        mapped.*,
        codes.measurement,
        codes.unit,
        codes.plausible_min,
        codes.plausible_max,
        case
            when codes.source_unit = codes.unit then mapped.result_value
            else mapped.result_value * conversions.factor
        end as converted_value,
        persons.person_id is not null as has_person

    from mapped
    left join codes on mapped.source_code = codes.source_code
    left join conversions
        on
            codes.source_unit = conversions.from_unit
            and codes.unit = conversions.to_unit
    left join persons on mapped.person_id = persons.person_id

),

checked as (

    select
        *,
        coalesce(
            reject_reason,
            missing_reason,
            case
                when measurement is null then 'unknown measurement code'
                when not has_person then 'person not in the person table'
                when converted_value is null
                    then 'no conversion from ' || source_code || ' units'
                when
                    converted_value < plausible_min
                    or converted_value > plausible_max
                    then 'value outside the plausible range of ' || measurement
            end
        ) as problem

    from joined

),

-- The first usable row of each value (person, day, code, value, qualifier);
-- only values seen more than once, so the join below stays small. A group by
-- and a join, not a window over every row: duplicates are rare.
repeated_values as (

    select
        person_id,
        day_offset,
        source_code,
        converted_value,
        value_qualifier,
        min({ 'name': source_name, 'line': source_line }) as first_row

    from checked
    where problem is null
    group by all
    having count(*) > 1

),

ranked as (

    select
        checked.*,
        repeated_values.first_row is not null
        and { 'name': checked.source_name, 'line': checked.source_line }
        <> repeated_values.first_row as is_later_copy

    from checked
    left join repeated_values
        on
            checked.problem is null
            and checked.person_id = repeated_values.person_id
            and checked.day_offset = repeated_values.day_offset
            and checked.source_code = repeated_values.source_code
            and checked.converted_value = repeated_values.converted_value
            and checked.value_qualifier = repeated_values.value_qualifier

)

select
    source_name,
    source_line,
    column_name,
    is_row_record,
    person_id,
    day_offset,
    source_code,
    measurement,
    unit,
    raw_value,
    converted_value as result_value,
    value_qualifier,
    value_note,
    reject_reason as staging_reason,
    problem,
    coalesce(is_later_copy, false) as is_duplicate

from ranked
