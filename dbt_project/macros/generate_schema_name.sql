{#- Layers are schemas by their own names (staging, intermediate, marts, reference),
    so downstream tools can read `marts.mart_recruitment` whatever the target. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
