-- The current returns' `submission` rows, typed, with the LA (GSS code) and period of their return.
select
    c.la_code,
    c.period,
    r.submission_id,
    r.source_row,
    r.return_version,
    cast(r.submitted_at as timestamp) as submitted_at
from {{ source('raw', 'submission') }} as r
inner join {{ current_returns() }} as c on c.submission_id = r.submission_id
