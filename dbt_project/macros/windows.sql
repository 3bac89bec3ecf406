{#- Rolling windows and calendar arithmetic, written once with dbt's
    cross-database macros so every mart counts months the same way. -#}

{#- True when `window_period` is one of the 12 calendar months ending with `period`
    (both first-of-month dates). Join a monthly model to itself on this and the
    grain's other keys, then sum: "the sum over the returns present". -#}
{% macro in_r12_window(window_period, period) -%}
    ({{ window_period }} > {{ dbt.dateadd('month', -12, period) }} and {{ window_period }} <= {{ period }})
{%- endmacro %}

{#- The first day of the month `n` months before (negative) or after `period`. -#}
{% macro months_from(period, n) -%}
    cast({{ dbt.dateadd('month', n, period) }} as date)
{%- endmacro %}

{#- The last day of the month that starts on `period`. -#}
{% macro month_end(period) -%}
    cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, period)) }} as date)
{%- endmacro %}

{#- 1 April of the financial year `period` falls in (the year starts on 1 April). -#}
{% macro financial_year_start(period) -%}
    cast({{ dbt.dateadd('month', 3, dbt.date_trunc('year', dbt.dateadd('month', -3, period))) }} as date)
{%- endmacro %}

{#- A ratio as the marts define it: null where the denominator is 0 or missing. -#}
{% macro ratio(numerator, denominator) -%}
    (cast({{ numerator }} as double precision) / nullif(cast({{ denominator }} as double precision), 0))
{%- endmacro %}
