-- Parsing functions shared by every staging model, created as DuckDB macros in the
-- schema synth_fn before a dbt run (on-run-start) and loaded as they are by the tests
-- (tests/unit/test_cases_loading.py), so both exercise the same SQL.
-- Every raw column is text; these functions cast it explicitly, never by sniffing.

create schema if not exists synth_fn;

-- Text with surrounding blanks removed; an empty string becomes NULL.
create or replace macro synth_fn.clean_text(raw) as
    nullif(trim(raw), '');

-- A code kept as text. A float export artefact ("1.0" for 1) loses its ".0";
-- leading zeros are kept, so "01" and "001" stay distinct codes.
create or replace macro synth_fn.normalise_code(raw) as
    regexp_replace(synth_fn.clean_text(raw), '^(-?[0-9]+)\.0+$', '\1');

-- A whole number, also when exported as "80.0"; NULL when the text is not one.
create or replace macro synth_fn.parse_integer(raw) as
    case
        when try_cast(synth_fn.clean_text(raw) as double)
            = trunc(try_cast(synth_fn.clean_text(raw) as double))
            then try_cast(try_cast(synth_fn.clean_text(raw) as double) as bigint)
    end;

-- A date (or timestamp) read with the declared strptime format; NULL when the text
-- does not match it. Nothing is guessed: 31/02/2021 with %d/%m/%Y is NULL.
create or replace macro synth_fn.parse_date(raw, fmt) as
    try_strptime(synth_fn.clean_text(raw), fmt)::date;

create or replace macro synth_fn.parse_timestamp(raw, fmt) as
    try_strptime(synth_fn.clean_text(raw), fmt);

-- A measured value. Returns a struct:
--   value      the number (the bound for a censored value such as "<5");
--   qualifier  '=' for a plain value, '<', '<=', '>' or '>=' for a censored one;
--   note       how the text was corrected, if it was ('negative zero',
--              'numeric artefact read as 0' for tiny values such as 5.4e-79 that
--              the SAS transport format leaves where a zero was meant);
--   problem    why no number could be read (NULL when one could).
-- Plain expressions, no subquery, so that it stays fast on tens of millions of
-- rows: a plain number is cast once; only text that starts with a sign of
-- censoring goes through the regular expression.
create or replace macro synth_fn.censor_sign(txt) as
    nullif(regexp_extract(txt, '^(<=|>=|<|>)\s*(.*)$', 1), '');

create or replace macro synth_fn.measurement_number(txt) as
    coalesce(
        try_cast(txt as double),
        case
            when synth_fn.censor_sign(txt) is not null
                then try_cast(
                    regexp_extract(txt, '^(<=|>=|<|>)\s*(.*)$', 2) as double
                )
        end
    );

create or replace macro synth_fn.measurement_struct(txt, number) as
    struct_pack(
        value := case
            when number is null or isnan(number) or isinf(number) then null
            when abs(number) < 1e-30 then 0.0
            else number
        end,
        qualifier := case
            when number is null or isnan(number) or isinf(number) then null
            else coalesce(synth_fn.censor_sign(txt), '=')
        end,
        note := case
            when number is null then null
            when number <> 0 and abs(number) < 1e-30
                then 'numeric artefact read as 0'
            when number = 0 and starts_with(txt, '-') then 'negative zero read as 0'
        end,
        problem := case
            when txt is null then 'value is missing'
            when number is null or isnan(number) or isinf(number)
                then 'value is not a number: ' || txt
        end
    );

create or replace macro synth_fn.parse_measurement(raw) as
    synth_fn.measurement_struct(
        synth_fn.clean_text(raw),
        synth_fn.measurement_number(synth_fn.clean_text(raw))
    );
