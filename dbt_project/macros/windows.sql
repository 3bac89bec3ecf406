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

{#- The rolling-12-month sums of a monthly relation: one row per `keys` + period, with
    `r12_<column>` for each of `sums`, `r12_months` (the months present), and any
    `extra` aggregate expressions over the window's rows (alias `w`), e.g.
    'avg(w.approved_households) as r12_mean_approved_households'. -#}
{% macro rolling_12_months(relation, keys, sums, extra=[]) -%}
    select
        {%- for key in keys %}
        m.{{ key }},
        {%- endfor %}
        m.period,
        count(w.period) as r12_months,
        {%- for column in sums %}
        sum(w.{{ column }}) as r12_{{ column }}{{ "," if not loop.last or extra }}
        {%- endfor %}
        {%- for expression in extra %}
        {{ expression }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ relation }} as m
    inner join {{ relation }} as w
        on {% for key in keys %}w.{{ key }} = m.{{ key }} and {% endfor %}{{ in_r12_window('w.period', 'm.period') }}
    group by {% for key in keys %}m.{{ key }}, {% endfor %}m.period
{%- endmacro %}

{#- The LA's name, region and hub from the reference seed joined as `alias`. -#}
{% macro la_attributes(alias='la') -%}
    cast({{ alias }}.la_name as varchar) as la_name,
    cast({{ alias }}.region as varchar) as region,
    cast({{ alias }}.hub as varchar) as hub
{%- endmacro %}
