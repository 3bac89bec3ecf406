-- In-house fostering against independent fostering agencies: grain la_code, period (every
-- current return). The in-house cost includes the fostering service's overhead; the IFA
-- cost is the agencies' fees (marts spec v1, mart_cost_comparison).
with returns as (
    select * from {{ ref('int_returns_windowed') }}
),

costs as (
    select * from {{ ref('mart_cost_per_placement') }}
),

compared as (
    select
        r.la_code,
        r.period,
        r.r12_months,
        inhouse.children as inhouse_children,
        ifa.children as ifa_children,
        inhouse.fully_loaded_weekly_cost as inhouse_weekly_cost,
        ifa.avg_weekly_cost as ifa_weekly_cost,
        inhouse.r12_fully_loaded_weekly_cost as r12_inhouse_weekly_cost,
        ifa.r12_avg_weekly_cost as r12_ifa_weekly_cost
    from returns as r
    left join costs as inhouse
        on inhouse.la_code = r.la_code
        and inhouse.period = r.period
        and inhouse.category = 'foster_inhouse'
    left join costs as ifa
        on ifa.la_code = r.la_code
        and ifa.period = r.period
        and ifa.category = 'foster_ifa'
)

select
    cast(c.la_code as varchar) as la_code,
    {{ la_attributes('la') }},
    cast(c.period as date) as period,
    cast(c.inhouse_children as bigint) as inhouse_children,
    cast(c.ifa_children as bigint) as ifa_children,
    cast(c.inhouse_weekly_cost as double precision) as inhouse_weekly_cost,
    cast(c.ifa_weekly_cost as double precision) as ifa_weekly_cost,
    cast(c.ifa_weekly_cost - c.inhouse_weekly_cost as double precision) as ifa_premium_weekly,
    cast((c.ifa_weekly_cost - c.inhouse_weekly_cost) * 52 as double precision) as annual_saving_per_child,
    cast(c.r12_months as integer) as r12_months,
    cast(c.r12_inhouse_weekly_cost as double precision) as r12_inhouse_weekly_cost,
    cast(c.r12_ifa_weekly_cost as double precision) as r12_ifa_weekly_cost,
    cast(c.r12_ifa_weekly_cost - c.r12_inhouse_weekly_cost as double precision) as r12_ifa_premium_weekly,
    cast((c.r12_ifa_weekly_cost - c.r12_inhouse_weekly_cost) * 52 as double precision) as r12_annual_saving_per_child
from compared as c
left join {{ ref('local_authorities') }} as la
    on la.gss_code = c.la_code
where {{ monthly_slice('c.period') }}
