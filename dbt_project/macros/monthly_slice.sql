{#- Monthly partitions. The period-grained intermediate models and marts are
    incremental: a run for a range of reporting periods (the months of the
    Dagster partition range: macros/build_window.sql)
    deletes those months from the table and inserts them rebuilt, leaving every other
    month as it was. Without a window a model is built for every period.
    The rolling windows still read the 11 months before the range, because only
    each model's output is sliced, never its inputs. -#}

{#- True for a period inside the run's range; always true without one, and on a
    first or full-refresh build (which builds every period), and in unit tests
    (where `this` is not a table). The range is written into the SQL as literals, so
    DuckDB can push it down to the scans. -#}
{% macro monthly_slice(period) -%}
    {%- set window = build_window('built') if (this is not none and is_incremental()) else none -%}
    ({{ months_condition(window, period) }})
{%- endmacro %}

{#- The pre-hook of every monthly model: on an incremental run, clear the months
    about to be rebuilt, in the same transaction as their insert. -#}
{% macro delete_monthly_slice() -%}
    {%- if is_incremental() -%}
    delete from {{ this }} where {{ monthly_slice('period') }}
    {%- endif -%}
{%- endmacro %}
