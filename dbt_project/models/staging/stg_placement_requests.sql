-- The current returns' `placement_requests` rows, typed, with the LA (GSS code) and period of their return.
select
    c.la_code,
    c.period,
    r.submission_id,
    r.source_row,
    r.need_category,
    cast(r.requests as integer) as requests,
    cast(r.placed_in_house as integer) as placed_in_house,
    cast(r.placed_external as integer) as placed_external,
    cast(r.not_placed as integer) as not_placed
from {{ source('raw', 'placement_requests') }} as r
inner join {{ current_returns() }} as c on c.submission_id = r.submission_id
