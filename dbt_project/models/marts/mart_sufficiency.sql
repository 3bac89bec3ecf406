-- Sufficiency: grain la_code, period (every current return). Children looked after at
-- month end by placement category, fostering and family-based shares, in-house places,
-- placement requests and placement stability (marts spec v1, mart_sufficiency).
{%- set categories = [
    'foster_inhouse', 'foster_connected', 'foster_ifa', 'foster_other_la',
    'residential_inhouse', 'residential_external', 'residential_school', 'secure',
    'supported_accommodation', 'placed_with_parents', 'placed_for_adoption', 'other'
] %}

with returns as (
    select * from {{ ref('int_returns_windowed') }}
),

local_authorities as (
    select * from {{ ref('local_authorities') }}
),

children as (
    select
        la_code,
        period,
        count(distinct case when is_open_at_month_end then child_id end) as children_looked_after,
        {%- for category in categories %}
        count(distinct case when is_open_at_month_end and category = '{{ category }}' then child_id end) as {{ category }},
        {%- endfor %}
        count(distinct case when is_open_at_month_end and in_area then child_id end) as children_in_area
    from {{ ref('int_placement_days_by_month') }}
    group by la_code, period
),

households as (
    select
        la_code,
        period,
        sum(approved_households) as approved_households,
        sum(approved_places) as approved_places,
        sum(places_filled) as places_filled,
        sum(places_vacant) as places_vacant,
        sum(places_unavailable) as places_unavailable
    from {{ ref('stg_households') }}
    group by la_code, period
),

requests as (
    select
        la_code,
        period,
        sum(requests) as requests,
        sum(placed_in_house) as placed_in_house,
        sum(placed_external) as placed_external,
        sum(not_placed) as not_placed
    from {{ ref('stg_placement_requests') }}
    group by la_code, period
),

moves as (
    select
        la_code,
        period,
        sum(case when placements_12m >= 3 then 1 else 0 end) as children_3plus_placements
    from {{ ref('int_children_moves_counted') }}
    group by la_code, period
),

counts as (
    select
        r.la_code,
        r.period,
        r.r12_months,
        coalesce(c.children_looked_after, 0) as children_looked_after,
        {%- for category in categories %}
        coalesce(c.{{ category }}, 0) as {{ category }},
        {%- endfor %}
        coalesce(c.foster_inhouse, 0) + coalesce(c.foster_connected, 0)
            + coalesce(c.foster_ifa, 0) + coalesce(c.foster_other_la, 0) as fostering,
        coalesce(c.children_in_area, 0) as children_in_area,
        h.approved_households,
        h.approved_places,
        h.places_filled,
        h.places_vacant,
        h.places_unavailable,
        case when prior.la_code is not null then h.approved_places - prior_h.approved_places end as r12_net_places_change,
        coalesce(q.requests, 0) as requests,
        coalesce(q.placed_in_house, 0) as placed_in_house,
        coalesce(q.placed_external, 0) as placed_external,
        coalesce(q.not_placed, 0) as not_placed,
        coalesce(m.children_3plus_placements, 0) as children_3plus_placements
    from returns as r
    left join children as c
        on c.la_code = r.la_code and c.period = r.period
    left join households as h
        on h.la_code = r.la_code and h.period = r.period
    left join returns as prior
        on prior.la_code = r.la_code and prior.period = {{ months_from('r.period', -12) }}
    left join households as prior_h
        on prior_h.la_code = r.la_code and prior_h.period = {{ months_from('r.period', -12) }}
    left join requests as q
        on q.la_code = r.la_code and q.period = r.period
    left join moves as m
        on m.la_code = r.la_code and m.period = r.period
)

select
    cast(n.la_code as varchar) as la_code,
    {{ la_attributes('la') }},
    cast(n.period as date) as period,
    cast(n.children_looked_after as bigint) as children_looked_after,
    {%- for category in categories %}
    cast(n.{{ category }} as bigint) as {{ category }},
    {%- endfor %}
    cast(n.fostering as bigint) as fostering,
    {{ ratio('n.foster_inhouse + n.foster_connected', 'n.fostering') }} as inhouse_fostering_share,
    {{ ratio('n.fostering + n.placed_with_parents + n.placed_for_adoption', 'n.children_looked_after') }} as family_based_share,
    {{ ratio('n.residential_inhouse + n.residential_external', 'n.children_looked_after') }} as residential_share,
    cast(n.children_in_area as bigint) as children_in_area,
    {{ ratio('n.children_in_area', 'n.children_looked_after') }} as in_area_share,
    {{ ratio('n.children_looked_after * 10000', 'la.child_population_0_17') }} as cla_rate_per_10k,
    cast(n.approved_households as bigint) as approved_households,
    cast(n.approved_places as bigint) as approved_places,
    cast(n.places_filled as bigint) as places_filled,
    cast(n.places_vacant as bigint) as places_vacant,
    cast(n.places_unavailable as bigint) as places_unavailable,
    {{ ratio('n.places_filled', 'n.approved_places - n.places_unavailable') }} as place_utilisation,
    cast(n.r12_net_places_change as bigint) as r12_net_places_change,
    cast(n.requests as bigint) as requests,
    cast(n.placed_in_house as bigint) as placed_in_house,
    cast(n.placed_external as bigint) as placed_external,
    cast(n.not_placed as bigint) as not_placed,
    {{ ratio('n.placed_in_house', 'n.requests') }} as inhouse_fill_rate,
    case when n.r12_months = 12 then cast(n.children_3plus_placements as bigint) end as children_3plus_placements_12m,
    case
        when n.r12_months = 12 then {{ ratio('n.children_3plus_placements', 'n.children_looked_after') }}
    end as moves_3plus_12m_share,
    cast(n.r12_months as integer) as r12_months
from counts as n
left join local_authorities as la
    on la.gss_code = n.la_code
where {{ monthly_slice('n.period') }}
