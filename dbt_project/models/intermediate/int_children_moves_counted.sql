-- For each child looked after at month end in a current return: how many distinct
-- placements (child_id, placement_start) the child had in the 12 months ending at that
-- month end, counted from the returns present in that window (the current one included).
-- A placement listed in a window month's return overlaps that month by the return
-- contract (placement_end blank or >= the month's first day), so every placement found
-- there counts, once however many months list it.
with placements as (
    select * from {{ ref('int_placement_days_by_month') }}
),

looked_after as (
    select distinct la_code, period, child_id
    from placements
    where is_open_at_month_end
),

window_placements as (
    select distinct
        c.la_code,
        c.period,
        c.child_id,
        w.placement_start
    from looked_after as c
    inner join placements as w
        on w.la_code = c.la_code
        and w.child_id = c.child_id
        and {{ in_r12_window('w.period', 'c.period') }}
)

select
    la_code,
    period,
    child_id,
    cast(count(*) as integer) as placements_12m
from window_placements
where {{ monthly_slice('period') }}
group by la_code, period, child_id
