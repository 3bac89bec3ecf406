-- The current returns' `deregistrations` rows, typed, with the LA (GSS code) and period of their return.
select
    c.la_code,
    c.period,
    r.submission_id,
    r.source_row,
    r.carer_type,
    r.reason_code,
    cast(r.households as integer) as households
from {{ source('raw', 'deregistrations') }} as r
inner join {{ current_returns() }} as c on c.submission_id = r.submission_id
