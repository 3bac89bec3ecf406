{#- For mart_submission_status and its month spine. -#}

{#- The day lateness is judged on: var('as_of_date') (a 'YYYY-MM-DD' string, pinned by
    tests and reruns) or, when it is null, the day the model runs. -#}
{% macro submission_status_as_of_date() -%}
    {%- set as_of = var('as_of_date', none) -%}
    {%- if as_of is none or as_of | string | trim == '' -%}
        current_date
    {%- else -%}
        cast('{{ as_of }}' as date)
    {%- endif -%}
{%- endmacro %}

{#- The day a return for `period` (a first-of-month date) is due: the
    var('submission_due_day')th of the following month. -#}
{% macro submission_due_date(period) -%}
    cast({{ dbt.dateadd('day', (var('submission_due_day') | int) - 1, months_from(period, 1)) }} as date)
{%- endmacro %}
