-- One row per current return and placement category with any placement day in the month:
-- children, child-days, child weeks and placement spend, plus the fostering service's
-- overhead (the month's actuals of the cost lines flagged is_fostering_overhead in the
-- `cost_lines` seed: fostering_staff + fostering_other) shared between foster_inhouse and
-- foster_connected in proportion to their child-days; 0 for every other category.
{%- set inhouse_categories = "('foster_inhouse', 'foster_connected')" %}

with placement_days as (
    select * from {{ ref('int_placement_days_by_month') }}
    where days_in_month > 0
),

by_category as (
    select
        la_code,
        period,
        category,
        count(distinct child_id) as children,
        sum(days_in_month) as child_days,
        sum(placement_spend) as placement_spend
    from placement_days
    group by la_code, period, category
),

inhouse_days as (
    select la_code, period, sum(child_days) as inhouse_child_days
    from by_category
    where category in {{ inhouse_categories }}
    group by la_code, period
),

overheads as (
    select
        f.la_code,
        f.period,
        sum(f.actual) as overhead_actual
    from {{ ref('stg_finance') }} as f
    inner join {{ ref('cost_lines') }} as l
        on l.cost_line = f.cost_line
    where l.is_fostering_overhead
    group by f.la_code, f.period
)

select
    c.la_code,
    c.period,
    c.category,
    cast(c.children as bigint) as children,
    cast(c.child_days as bigint) as child_days,
    cast(c.child_days as double precision) / 7 as child_weeks,
    cast(c.placement_spend as double precision) as placement_spend,
    case
        when c.category in {{ inhouse_categories }}
            then cast(coalesce(o.overhead_actual, 0) as double precision) * c.child_days / i.inhouse_child_days
        else cast(0 as double precision)
    end as overhead_spend
from by_category as c
left join inhouse_days as i
    on i.la_code = c.la_code and i.period = c.period
left join overheads as o
    on o.la_code = c.la_code and o.period = c.period
where {{ monthly_slice('c.period') }}
