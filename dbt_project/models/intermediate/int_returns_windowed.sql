-- One row per current return (LA and period), with how many of the 12 calendar months
-- ending with its period have a return (r12_months, 1-12): "the returns present" that
-- every rolling sum of the marts adds up.
with returns as (
    select la_code, period, submission_id from {{ ref('stg_submission') }}
)

select
    r.la_code,
    r.period,
    r.submission_id,
    {{ months_from('r.period', -11) }} as r12_first_period,
    cast(count(w.period) as integer) as r12_months
from returns as r
inner join returns as w
    on w.la_code = r.la_code
    and {{ in_r12_window('w.period', 'r.period') }}
where {{ monthly_slice('r.period') }}
group by r.la_code, r.period, r.submission_id
