-- mart_submission_status (marts-v1): for every LA in the reference table and every month
-- from the earliest to the latest return in the ledger, whether the return arrived, in
-- what state, how many versions, and whether it was late
-- (judged on the most trustworthy evidence of when it arrived: see `lateness_basis`).

with las as (

    select gss_code as la_code, la_name, region, hub
    from {{ ref('local_authorities') }}

),

months as (

    select period
    from {{ ref('int_calendar_months') }}

),

ledger as (

    select *
    from {{ ref('stg_submissions') }}
    where la_code is not null and period is not null

),

received as (

    select
        la_code,
        period,
        count(*) as versions,
        -- Lateness is judged on the first accepted return (see the `late` column).
        min(case when status <> 'rejected' then received_at end) as first_accepted_received_at
    from ledger
    group by la_code, period

),

first_receipt as (

    -- When the pipeline first received anything at all (every LA, every status, including
    -- returns whose LA could not be identified). A `received_at` is evidence of when a
    -- return was sent only for a period that fell due after this: a period due before it
    -- was loaded in bulk (history taken over), and its `received_at` is the loading day.
    select cast(min(received_at) as date) as first_received_on
    from {{ ref('stg_submissions') }}

),

first_accepted as (

    -- The LA's sign-off of that first accepted return: the only evidence for a bulk load.
    select la_code, period, submitted_at as first_accepted_submitted_at
    from (
        select
            *,
            row_number() over (
                partition by la_code, period
                order by received_at, submission_id
            ) as arrival
        from ledger
        where status <> 'rejected'
    ) as accepted
    where arrival = 1

),

current_version as (

    select la_code, period, status, submitted_at, received_at, errors, warnings
    from ledger
    where is_current and status <> 'rejected'

),

latest_rejected as (

    select la_code, period, status, submitted_at, received_at, errors, warnings
    from (
        select
            *,
            row_number() over (
                partition by la_code, period
                order by received_at desc, submission_id desc
            ) as recency
        from ledger
        where status = 'rejected'
    ) as rejected
    where recency = 1

),

grid as (

    select
        las.la_code,
        las.la_name,
        las.region,
        las.hub,
        months.period,
        {{ submission_due_date('months.period') }} as due_date
    from las
    cross join months

)

select
    g.la_code,
    g.la_name,
    g.region,
    g.hub,
    g.period,
    cast(case
        when c.la_code is not null then c.status
        when r.la_code is not null then 'rejected'
        else 'missing'
    end as varchar) as status,
    cast(case when c.la_code is not null then c.submitted_at else r.submitted_at end as timestamp) as submitted_at,
    cast(case when c.la_code is not null then c.received_at else r.received_at end as timestamp) as received_at,
    cast(coalesce(v.versions, 0) as integer) as versions,
    cast(case when c.la_code is not null then c.errors else r.errors end as integer) as errors,
    cast(case when c.la_code is not null then c.warnings else r.warnings end as integer) as warnings,
    g.due_date,
    case
        when c.la_code is null then {{ submission_status_as_of_date() }} > g.due_date
        when fr.first_received_on <= g.due_date then cast(v.first_accepted_received_at as date) > g.due_date
        when cast(fa.first_accepted_submitted_at as date) > g.due_date then true
    end as late,
    cast(case
        when c.la_code is null then 'no_accepted_return'
        when fr.first_received_on <= g.due_date then 'received'
        when cast(fa.first_accepted_submitted_at as date) > g.due_date then 'signed_off'
        else 'unknown'
    end as varchar) as lateness_basis
from grid as g
cross join first_receipt as fr
left join current_version as c
    on c.la_code = g.la_code and c.period = g.period
left join latest_rejected as r
    on r.la_code = g.la_code and r.period = g.period
left join received as v
    on v.la_code = g.la_code and v.period = g.period
left join first_accepted as fa
    on fa.la_code = g.la_code and fa.period = g.period
