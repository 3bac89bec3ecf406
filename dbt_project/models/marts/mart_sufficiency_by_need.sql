-- Placement requests by need: grain la_code, period, need_category, one row per need of
-- the `need_categories` seed for every current return (a need missing from the return
-- counts 0), with rolling 12-month sums (marts spec v1, mart_sufficiency_by_need).
with requests as (
    select * from {{ ref('int_placement_requests_zero_filled') }}
),

rolling as (
    {{ rolling_12_months('requests', ['la_code', 'need_category'], ['requests', 'placed_in_house', 'placed_external', 'not_placed']) }}
)

select
    cast(m.la_code as varchar) as la_code,
    {{ la_attributes('la') }},
    cast(m.period as date) as period,
    cast(m.need_category as varchar) as need_category,
    cast(m.need_reported as boolean) as need_reported,
    cast(m.requests as bigint) as requests,
    cast(m.placed_in_house as bigint) as placed_in_house,
    cast(m.placed_external as bigint) as placed_external,
    cast(m.not_placed as bigint) as not_placed,
    {{ ratio('m.placed_in_house', 'm.requests') }} as inhouse_fill_rate,
    cast(r.r12_months as integer) as r12_months,
    cast(r.r12_requests as bigint) as r12_requests,
    cast(r.r12_placed_in_house as bigint) as r12_placed_in_house,
    cast(r.r12_placed_external as bigint) as r12_placed_external,
    cast(r.r12_not_placed as bigint) as r12_not_placed,
    {{ ratio('r.r12_placed_in_house', 'r.r12_requests') }} as r12_inhouse_fill_rate
from requests as m
inner join rolling as r
    on r.la_code = m.la_code
    and r.period = m.period
    and r.need_category = m.need_category
left join {{ ref('local_authorities') }} as la
    on la.gss_code = m.la_code
where {{ monthly_slice('m.period') }}
