-- The current returns' `placements` rows, typed, with the LA (GSS code) and period of their return.
select
    c.la_code,
    c.period,
    r.submission_id,
    r.source_row,
    r.child_id,
    cast(r.date_of_birth as date) as date_of_birth,
    r.uasc = 'Y' as uasc,
    r.disability = 'Y' as disability,
    cast(r.sibling_group_size as integer) as sibling_group_size,
    r.placement_type,
    r.placement_provider,
    cast(r.placement_start as date) as placement_start,
    cast(r.placement_end as date) as placement_end,
    r.in_area = 'Y' as in_area,
    cast(r.weekly_cost as decimal(14, 2)) as weekly_cost,
    r.carer_household_id
from {{ source('raw', 'placements') }} as r
inner join {{ current_returns() }} as c on c.submission_id = r.submission_id
