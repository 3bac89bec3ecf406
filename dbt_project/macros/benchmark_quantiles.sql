{#- For mart_benchmark: the continuous quantile (linear interpolation between the two
    nearest values, so the median of 4 values is the mean of the middle two) of
    `expression` at `fraction` (0-1), as an aggregate over the group. Nulls are ignored.
    PostgreSQL and the SQL standard spell it as an ordered-set aggregate; DuckDB has its own
    `quantile_cont`, isolated here. -#}
{% macro benchmark_quantile_cont(expression, fraction) -%}
    {{ return(adapter.dispatch('benchmark_quantile_cont', 'fostering')(expression, fraction)) }}
{%- endmacro %}

{% macro default__benchmark_quantile_cont(expression, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ expression }})
{%- endmacro %}

{% macro duckdb__benchmark_quantile_cont(expression, fraction) -%}
    quantile_cont({{ expression }}, {{ fraction }})
{%- endmacro %}
