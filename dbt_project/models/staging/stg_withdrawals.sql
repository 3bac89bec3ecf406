-- The current returns' `withdrawals` rows, typed, with the LA (GSS code) and period of their return.
select
    c.la_code,
    c.period,
    r.submission_id,
    r.source_row,
    r.carer_type,
    r.reason_code,
    cast(r.applications as integer) as applications
from {{ source('raw', 'withdrawals') }} as r
inner join {{ current_returns() }} as c on c.submission_id = r.submission_id
