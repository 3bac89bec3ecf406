{#- The months one dbt build covers, read while dbt compiles.

    The pipeline puts them in the environment of each dbt build (orchestration/assets/dbt.py):
    FOSTERING_DBT_BUILT_MONTHS for the monthly models and their data tests,
    FOSTERING_DBT_STAGED_MONTHS for the staging views' data tests, each `first/last` as
    first-of-month dates. A range passed as `--vars` instead would change dbt's command
    line every run, and dbt-core re-parses the whole project whenever the vars change.
    Read only when `execute` is true (compiling, never parsing), the variables are not
    recorded by the parser, so the project parses the same every run and partial parsing
    stays warm. Unset (a `dbt build` by hand, a unit test): every month. -#}

{#- [first, last] as 'YYYY-MM-DD' strings, or none for every month. `kind`: 'built' or 'staged'. -#}
{% macro build_window(kind) -%}
    {%- set value = env_var('FOSTERING_DBT_' ~ (kind | upper) ~ '_MONTHS', '') if execute else '' -%}
    {{ return(value.split('/') if value else none) }}
{%- endmacro %}

{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') or '' -%}
    {%- if '__built_months__' in where -%}
        {%- set where = where | replace('__built_months__', months_condition(build_window('built'))) -%}
    {%- endif -%}
    {%- if '__staged_months__' in where -%}
        {%- set where = where | replace('__staged_months__', months_condition(build_window('staged'))) -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return("(select * from " ~ relation ~ " where " ~ where ~ ") dbt_subquery") -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- `column` (a period) inside the window, or `1 = 1` for every month. -#}
{% macro months_condition(window, column='period') -%}
    {{ return(column ~ " >= cast('" ~ window[0] ~ "' as date) and " ~ column ~ " <= cast('" ~ window[1] ~ "' as date)" if window else "1 = 1") }}
{%- endmacro %}
