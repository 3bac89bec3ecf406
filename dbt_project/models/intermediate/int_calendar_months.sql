-- Every calendar month from the earliest to the latest period of a return in the ledger
-- (any status, LA identified), one row per month with no gaps: the month spine of
-- mart_submission_status. Periods the return contract can never accept (before 2010-01,
-- or after the as-of date) are left out of the bounds, so a rejected return that claimed
-- such a period cannot stretch the spine. A recursive CTE, portable to PostgreSQL.

with recursive bounds as (

    select
        min(period) as first_period,
        max(period) as last_period
    from {{ ref('stg_submissions') }}
    where la_code is not null
        and period >= cast('2010-01-01' as date)
        and period <= {{ submission_status_as_of_date() }}

),

months as (

    select first_period as period
    from bounds
    where first_period is not null

    union all

    select {{ months_from('months.period', 1) }} as period
    from months
    inner join bounds on months.period < bounds.last_period

)

select cast(period as date) as period
from months
