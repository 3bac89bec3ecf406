-- Each placement row of a current return with its placement category (return spec 3.1),
-- from the `placement_categories` seed: a row for the placement's own provider wins over
-- the type's any-provider row (placement_provider blank in the seed).
with placements as (
    select * from {{ ref('stg_placements') }}
),

categories as (
    select * from {{ ref('placement_categories') }}
),

provider_specific as (
    select placement_type, placement_provider, category
    from categories
    where placement_provider is not null and placement_provider <> ''
),

any_provider as (
    select placement_type, category
    from categories
    where placement_provider is null or placement_provider = ''
)

select
    p.la_code,
    p.period,
    p.submission_id,
    p.source_row,
    p.child_id,
    p.date_of_birth,
    p.uasc,
    p.disability,
    p.sibling_group_size,
    p.placement_type,
    p.placement_provider,
    coalesce(s.category, a.category) as category,
    p.placement_start,
    p.placement_end,
    p.in_area,
    p.weekly_cost,
    p.carer_household_id
from placements as p
left join provider_specific as s
    on s.placement_type = p.placement_type
    and s.placement_provider = p.placement_provider
left join any_provider as a
    on a.placement_type = p.placement_type
where {{ monthly_slice('p.period') }}
