{#- Fails on every combination of `combination_of_columns` that occurs more than
    once: the grain test of the marts (no dbt_utils in this project).
    Usage, at model level:
      data_tests:
        - unique_combination_of_columns:
            arguments:
              combination_of_columns: [la_code, period]
    A `where` config narrows the rows checked, as for any generic test. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
{%- set columns_csv = combination_of_columns | join(', ') %}
select {{ columns_csv }}, count(*) as n_rows
from {{ model }}
group by {{ columns_csv }}
having count(*) > 1
{% endtest %}
