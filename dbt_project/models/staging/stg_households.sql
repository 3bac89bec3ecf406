-- The current returns' `households` rows, typed, with the LA (GSS code) and period of their return.
select
    c.la_code,
    c.period,
    r.submission_id,
    r.source_row,
    r.carer_type,
    cast(r.approved_households as integer) as approved_households,
    cast(r.approved_places as integer) as approved_places,
    cast(r.places_filled as integer) as places_filled,
    cast(r.places_vacant as integer) as places_vacant,
    cast(r.places_unavailable as integer) as places_unavailable,
    cast(r.households_on_hold as integer) as households_on_hold
from {{ source('raw', 'households') }} as r
inner join {{ current_returns() }} as c on c.submission_id = r.submission_id
