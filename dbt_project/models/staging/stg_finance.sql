-- The current returns' `finance` rows, typed, with the LA (GSS code) and period of their return.
select
    c.la_code,
    c.period,
    r.submission_id,
    r.source_row,
    r.cost_line,
    cast(r.actual as decimal(14, 2)) as actual,
    cast(r.budget as decimal(14, 2)) as budget
from {{ source('raw', 'finance') }} as r
inner join {{ current_returns() }} as c on c.submission_id = r.submission_id
