{#- Macros that write the mart's select list from the configuration's
    mart.columns: each column's `derive` says where its value comes from, and its
    type, bounds, rounding, missing-value policy and structural missingness say how
    it is finished. Changing the configuration changes the mart, with no SQL edit.
    The configuration is validated by synth/config.py before dbt runs. -#}

{#- The mart columns whose value comes from one canonical table. -#}
{% macro mart_columns_from(source_kind) -%}
    {%- set selected = [] -%}
    {%- for name, spec in synth_setting('mart.columns', {}).items() -%}
        {%- if (spec.get('derive') or {}).get('from') == source_kind -%}
            {%- do selected.append((name, spec)) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(selected) }}
{%- endmacro %}

{#- A filter on day_offset for a derive's window: [from_day, to_day], either
    bound may be null (open). -#}
{% macro mart_window(derive) -%}
    {%- set window = derive.get('window') or [none, none] -%}
    {%- if window[0] is not none %} and day_offset >= {{ window[0] }}{% endif -%}
    {%- if window[1] is not none %} and day_offset <= {{ window[1] }}{% endif -%}
{%- endmacro %}

{#- A quoted SQL list of text values: ('1', '2'). -#}
{% macro mart_text_list(values) -%}
    ({%- for value in values -%}
        {{ dbt.string_literal(value | string) }}{{ ', ' if not loop.last }}
    {%- endfor -%})
{%- endmacro %}

{#- One measurement feature: an aggregate of one measurement's values in the
    window (last, first, mean, min, max, count). -#}
{% macro mart_measurement_feature(derive) -%}
    {%- set agg = derive.get('aggregate', 'last') -%}
    {%- set where -%}
        measurement = {{ dbt.string_literal(derive['measurement']) }}
        {{- mart_window(derive) }}
    {%- endset -%}
    {%- if agg == 'last' -%}
        arg_max(result_value, [day_offset, source_line]) filter (where {{ where }})
    {%- elif agg == 'first' -%}
        arg_min(result_value, [day_offset, source_line]) filter (where {{ where }})
    {%- elif agg == 'mean' -%}
        avg(result_value) filter (where {{ where }})
    {%- elif agg == 'count' -%}
        count(result_value) filter (where {{ where }})
    {%- else -%}
        {{ agg }}(result_value) filter (where {{ where }})
    {%- endif -%}
{%- endmacro %}

{#- One condition feature: any diagnosis in the window whose ICD-10 code starts
    with one of the prefixes, or lies in one of the blocks or chapters. -#}
{% macro mart_condition_feature(derive) -%}
    {%- set tests = [] -%}
    {%- for prefix in derive.get('icd10', []) -%}
        {%- do tests.append("starts_with(icd10_code, " ~ dbt.string_literal(prefix) ~ ")") -%}
    {%- endfor -%}
    {%- for block in derive.get('block', []) -%}
        {%- do tests.append("icd10_block = " ~ dbt.string_literal(block)) -%}
    {%- endfor -%}
    {%- for chapter in derive.get('chapter', []) -%}
        {%- do tests.append("icd10_chapter = " ~ dbt.string_literal(chapter)) -%}
    {%- endfor -%}
    bool_or({{ tests | join(' or ') }}) filter (where true{{ mart_window(derive) }})
{%- endmacro %}

{#- One survey feature: with true_answers (and false_answers) lists, whether any
    answer in the window is a true answer (ever); else the last answer, as text. -#}
{% macro mart_survey_feature(derive) -%}
    {%- set where -%}
        item = {{ dbt.string_literal(derive['item']) }} and answer is not null
        {{- mart_window(derive) }}
    {%- endset -%}
    {%- if derive.get('true_answers') is not none -%}
        case
            when bool_or(answer in {{ mart_text_list(derive['true_answers']) }})
                filter (where {{ where }}) then true
            {%- if derive.get('false_answers') is not none %}
            when bool_or(answer in {{ mart_text_list(derive['false_answers']) }})
                filter (where {{ where }}) then false
            {%- endif %}
        end
    {%- else -%}
        arg_max(answer, [day_offset, source_line]) filter (where {{ where }})
    {%- endif -%}
{%- endmacro %}

{#- The SQL type of a mart column: `type` when declared, else from kind, role
    and integer. -#}
{% macro mart_type(spec) -%}
    {%- if spec.get('type') -%}
        {{ return(spec['type']) }}
    {%- elif spec.get('role') == 'identifier' -%}
        {{ return('bigint') }}
    {%- elif spec.get('kind') == 'numeric' and spec.get('integer') -%}
        {{ return('integer') }}
    {%- elif spec.get('kind') == 'numeric' -%}
        {{ return('double') }}
    {%- elif spec.get('kind') == 'date' -%}
        {{ return('date') }}
    {%- else -%}
        {{ return('varchar') }}
    {%- endif -%}
{%- endmacro %}

{#- A column's finished value from its raw value `raw`: the missing-value policy
    (missing: {value: ...} or {fill: <SQL over other raw columns>}), bounds (a
    value outside lower / upper becomes NULL, or is clipped with
    out_of_bounds: clip), rounding, the declared type, and structural missingness
    (NULL by design where structural_missing.when holds). -#}
{% macro mart_finish(name, spec) -%}
    {%- set raw = 'raw_values.' ~ name -%}
    {%- set missing = spec.get('missing') or {} -%}
    {%- set sql_type = mart_type(spec) -%}
    {%- set value = raw -%}
    {%- if missing is mapping and missing.get('fill') -%}
        {%- set value = 'coalesce(' ~ value ~ ', ' ~ missing['fill'] ~ ')' -%}
    {%- endif -%}
    {%- if spec.get('lower') is not none or spec.get('upper') is not none -%}
        {%- set lower = spec.get('lower') -%}
        {%- set upper = spec.get('upper') -%}
        {%- if spec.get('out_of_bounds', 'null') == 'clip' -%}
            {%- if lower is not none -%}
                {%- set value = 'greatest(' ~ value ~ ', ' ~ lower ~ ')' -%}
            {%- endif -%}
            {%- if upper is not none -%}
                {%- set value = 'least(' ~ value ~ ', ' ~ upper ~ ')' -%}
            {%- endif -%}
        {%- else -%}
            {%- set checks = [] -%}
            {%- if lower is not none -%}
                {%- do checks.append(value ~ ' >= ' ~ lower) -%}
            {%- endif -%}
            {%- if upper is not none -%}
                {%- do checks.append(value ~ ' <= ' ~ upper) -%}
            {%- endif -%}
            {%- set value = 'case when ' ~ (checks | join(' and ')) ~ ' then '
                ~ value ~ ' end' -%}
        {%- endif -%}
    {%- endif -%}
    {%- if spec.get('integer') -%}
        {%- set value = 'round(' ~ value ~ ')' -%}
    {%- elif spec.get('decimals') is not none -%}
        {%- set value = 'round(' ~ value ~ ', ' ~ spec['decimals'] ~ ')' -%}
    {%- endif -%}
    {%- set value = 'cast(' ~ value ~ ' as ' ~ sql_type ~ ')' -%}
    {%- if missing is mapping and missing.get('value') is not none -%}
        {%- set default = missing['value'] -%}
        {%- if default is string -%}
            {%- set default = dbt.string_literal(default) -%}
        {%- endif -%}
        {%- set value = 'coalesce(' ~ value ~ ', cast(' ~ (default | lower
            if default is sameas true or default is sameas false else default)
            ~ ' as ' ~ sql_type ~ '))' -%}
    {%- endif -%}
    {%- set structural = spec.get('structural_missing') or {} -%}
    {%- if structural.get('when') -%}
        {%- set value = 'case when ' ~ structural['when'] ~ ' then null else '
            ~ value ~ ' end' -%}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}
