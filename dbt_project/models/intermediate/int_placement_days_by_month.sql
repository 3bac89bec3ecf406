-- Per placement row of a current return: its days in the return's month, child weeks,
-- spend in the month, and whether it is open at month end (marts spec, conventions).
-- A placement covers the days d with placement_start <= d < placement_end (placement_end
-- null = still open), so the month's days are [greatest(start, first day),
-- least(end, first day of next month)) and never fewer than 0.
{%- set next_month = months_from('p.period', 1) %}
{%- set last_day = month_end('p.period') %}
{%- set first_in_month = 'greatest(p.placement_start, p.period)' %}
{%- set after_last_in_month = 'least(coalesce(p.placement_end, ' ~ next_month ~ '), ' ~ next_month ~ ')' %}

with placements as (
    select * from {{ ref('int_placements_categorised') }}
),

days as (
    select
        p.la_code,
        p.period,
        p.submission_id,
        p.source_row,
        p.child_id,
        p.placement_type,
        p.placement_provider,
        p.category,
        p.placement_start,
        p.placement_end,
        p.in_area,
        p.weekly_cost,
        {{ last_day }} as month_end,
        cast(greatest(0, {{ dbt.datediff(first_in_month, after_last_in_month, 'day') }}) as integer) as days_in_month,
        (p.placement_start <= {{ last_day }}
            and (p.placement_end is null or p.placement_end > {{ last_day }})) as is_open_at_month_end
    from placements as p
)

select
    la_code,
    period,
    submission_id,
    source_row,
    child_id,
    placement_type,
    placement_provider,
    category,
    placement_start,
    placement_end,
    in_area,
    weekly_cost,
    month_end,
    days_in_month,
    cast(days_in_month as double precision) / 7 as child_weeks,
    cast(weekly_cost as double precision) * days_in_month / 7 as placement_spend,
    is_open_at_month_end
from days
where {{ monthly_slice('period') }}
