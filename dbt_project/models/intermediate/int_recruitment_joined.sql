-- One row per LA, period and carer type reported that month (mainstream, connected),
-- with the month's recruitment flows, deregistrations (in total and pivoted by reason
-- DER1..DER6) and the month-end stock of approved households; plus an `all` row per LA
-- and period summing the carer types that were reported.
{%- set flows = ['enquiries', 'initial_visits', 'applications', 'assessments_in_progress', 'approvals', 'applications_withdrawn'] %}
{%- set reasons = ['der1', 'der2', 'der3', 'der4', 'der5', 'der6'] %}

with recruitment as (

    select la_code, period, carer_type, {{ flows | join(', ') }}
    from {{ ref('stg_recruitment') }}

),

households as (

    select la_code, period, carer_type, approved_households
    from {{ ref('stg_households') }}

),

deregistrations as (

    select
        la_code,
        period,
        carer_type,
        sum(households) as deregistrations
        {%- for reason in reasons %},
        sum(case when reason_code = '{{ reason | upper }}' then households else 0 end) as {{ reason }}
        {%- endfor %}
    from {{ ref('stg_deregistrations') }}
    group by la_code, period, carer_type

),

-- A carer type is reported in a month when any of the three tables has a row for it.
reported as (

    select la_code, period, carer_type from recruitment
    union
    select la_code, period, carer_type from households
    union
    select la_code, period, carer_type from deregistrations

),

by_carer_type as (

    select
        k.la_code,
        k.period,
        k.carer_type,
        {%- for flow in flows %}
        r.{{ flow }},
        {%- endfor %}
        cast(coalesce(d.deregistrations, 0) as integer) as deregistrations,
        {%- for reason in reasons %}
        cast(coalesce(d.{{ reason }}, 0) as integer) as {{ reason }},
        {%- endfor %}
        h.approved_households
    from reported as k
    left join recruitment as r
        on r.la_code = k.la_code and r.period = k.period and r.carer_type = k.carer_type
    left join households as h
        on h.la_code = k.la_code and h.period = k.period and h.carer_type = k.carer_type
    left join deregistrations as d
        on d.la_code = k.la_code and d.period = k.period and d.carer_type = k.carer_type

),

all_carer_types as (

    select
        la_code,
        period,
        'all' as carer_type,
        {%- for flow in flows %}
        cast(sum({{ flow }}) as integer) as {{ flow }},
        {%- endfor %}
        cast(sum(deregistrations) as integer) as deregistrations,
        {%- for reason in reasons %}
        cast(sum({{ reason }}) as integer) as {{ reason }},
        {%- endfor %}
        cast(sum(approved_households) as integer) as approved_households
    from by_carer_type
    group by la_code, period

)

select * from by_carer_type
where {{ monthly_slice('period') }}
union all
select * from all_carer_types
where {{ monthly_slice('period') }}
