{#- The current return of each LA and period: accepted, not superseded.
    Staging models join their raw table to this, so everything downstream
    sees one return per LA and month. -#}
{% macro current_returns() -%}
    (select submission_id, la_code, cast(period as date) as period
     from {{ source('ops', 'submissions') }}
     where is_current and status <> 'rejected')
{%- endmacro %}
