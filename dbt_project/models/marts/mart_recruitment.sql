-- mart_recruitment (marts-v1): recruitment flows, deregistrations and the household stock
-- per LA, period and carer type (mainstream, connected, all), with rolling 12-month sums
-- and the rates recomputed from them.
{%- set r12_sums = ['enquiries', 'initial_visits', 'applications', 'approvals', 'deregistrations', 'net_household_change'] %}

with monthly as (

    select
        *,
        approvals - deregistrations as net_household_change
    from {{ ref('int_recruitment_joined') }}

),

-- The sum over the returns present for the 12 calendar months ending with `period`;
-- a month counts when the carer type was reported in it.
rolling as (

    {{ rolling_12_months('monthly', ['la_code', 'carer_type'], r12_sums,
        extra=['avg(cast(w.approved_households as double precision)) as r12_mean_approved_households']) }}

)

select
    m.la_code,
    {{ la_attributes('la') }},
    m.period,
    m.carer_type,
    cast(m.enquiries as integer) as enquiries,
    cast(m.initial_visits as integer) as initial_visits,
    cast(m.applications as integer) as applications,
    cast(m.approvals as integer) as approvals,
    cast(m.applications_withdrawn as integer) as applications_withdrawn,
    cast(m.assessments_in_progress as integer) as assessments_in_progress,
    cast(m.deregistrations as integer) as deregistrations,
    cast(m.der1 as integer) as der1,
    cast(m.der2 as integer) as der2,
    cast(m.der3 as integer) as der3,
    cast(m.der4 as integer) as der4,
    cast(m.der5 as integer) as der5,
    cast(m.der6 as integer) as der6,
    cast(m.approved_households as integer) as approved_households,
    cast(m.net_household_change as integer) as net_household_change,
    cast(m.approved_households - prev.approved_households - m.net_household_change as integer) as household_stock_residual,
    cast(r.r12_months as integer) as r12_months,
    {%- for column in r12_sums %}
    cast(r.r12_{{ column }} as bigint) as r12_{{ column }},
    {%- endfor %}
    {{ ratio('r.r12_initial_visits', 'r.r12_enquiries') }} as r12_visit_rate,
    {{ ratio('r.r12_applications', 'r.r12_initial_visits') }} as r12_application_rate,
    {{ ratio('r.r12_approvals', 'r.r12_applications') }} as r12_approval_rate,
    {{ ratio('r.r12_approvals', 'r.r12_enquiries') }} as r12_conversion_rate,
    {{ ratio('r.r12_deregistrations', 'r.r12_mean_approved_households') }} as r12_deregistration_rate
from monthly as m
inner join rolling as r
    on r.la_code = m.la_code and r.period = m.period and r.carer_type = m.carer_type
left join monthly as prev
    on prev.la_code = m.la_code
    and prev.carer_type = m.carer_type
    and prev.period = {{ months_from('m.period', -1) }}
left join {{ ref('local_authorities') }} as la
    on la.gss_code = m.la_code
where {{ monthly_slice('m.period') }}
