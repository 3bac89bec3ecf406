-- Cost per placement: grain la_code, period, category, one row per placement category
-- with any placement day in the month; weekly costs with and without the fostering
-- service's overhead, and rolling 12-month sums (marts spec v1, mart_cost_per_placement).
with costs as (
    select * from {{ ref('int_placement_costs_allocated') }}
),

returns as (
    select * from {{ ref('int_returns_windowed') }}
),

rolling as (
    {{ rolling_12_months('costs', ['la_code', 'category'], ['child_weeks', 'placement_spend', 'overhead_spend']) }}
)

select
    cast(m.la_code as varchar) as la_code,
    {{ la_attributes('la') }},
    cast(m.period as date) as period,
    cast(m.category as varchar) as category,
    cast(m.children as bigint) as children,
    cast(m.child_weeks as double precision) as child_weeks,
    cast(m.placement_spend as double precision) as placement_spend,
    {{ ratio('m.placement_spend', 'm.child_weeks') }} as avg_weekly_cost,
    cast(m.overhead_spend as double precision) as overhead_spend,
    {{ ratio('m.placement_spend + m.overhead_spend', 'm.child_weeks') }} as fully_loaded_weekly_cost,
    cast(ret.r12_months as integer) as r12_months,
    cast(r.r12_child_weeks as double precision) as r12_child_weeks,
    cast(r.r12_placement_spend as double precision) as r12_placement_spend,
    cast(r.r12_overhead_spend as double precision) as r12_overhead_spend,
    {{ ratio('r.r12_placement_spend', 'r.r12_child_weeks') }} as r12_avg_weekly_cost,
    {{ ratio('r.r12_placement_spend + r.r12_overhead_spend', 'r.r12_child_weeks') }} as r12_fully_loaded_weekly_cost
from costs as m
inner join rolling as r
    on r.la_code = m.la_code
    and r.period = m.period
    and r.category = m.category
left join returns as ret
    on ret.la_code = m.la_code
    and ret.period = m.period
left join {{ ref('local_authorities') }} as la
    on la.gss_code = m.la_code
where {{ monthly_slice('m.period') }}
