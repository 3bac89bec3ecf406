-- One row per current return and need category of the `need_categories` seed, with the
-- month's placement requests for that need. A need the return did not list counts 0
-- (need_reported = false), so every return has the same rows and rolling sums add up.
with returns as (
    select la_code, period, submission_id from {{ ref('stg_submission') }}
),

needs as (
    select need_category from {{ ref('need_categories') }}
),

requests as (
    select * from {{ ref('stg_placement_requests') }}
)

select
    r.la_code,
    r.period,
    r.submission_id,
    n.need_category,
    q.need_category is not null as need_reported,
    cast(coalesce(q.requests, 0) as integer) as requests,
    cast(coalesce(q.placed_in_house, 0) as integer) as placed_in_house,
    cast(coalesce(q.placed_external, 0) as integer) as placed_external,
    cast(coalesce(q.not_placed, 0) as integer) as not_placed
from returns as r
cross join needs as n
left join requests as q
    on q.submission_id = r.submission_id
    and q.need_category = n.need_category
where {{ monthly_slice('r.period') }}
