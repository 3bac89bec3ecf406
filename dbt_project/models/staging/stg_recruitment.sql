-- The current returns' `recruitment` rows, typed, with the LA (GSS code) and period of their return.
select
    c.la_code,
    c.period,
    r.submission_id,
    r.source_row,
    r.carer_type,
    cast(r.enquiries as integer) as enquiries,
    cast(r.initial_visits as integer) as initial_visits,
    cast(r.applications as integer) as applications,
    cast(r.assessments_in_progress as integer) as assessments_in_progress,
    cast(r.approvals as integer) as approvals,
    cast(r.applications_withdrawn as integer) as applications_withdrawn
from {{ source('raw', 'recruitment') }} as r
inner join {{ current_returns() }} as c on c.submission_id = r.submission_id
