-- mart_benchmark (marts-v1): each LA against the other LAs of its hub, its region and the
-- whole warehouse, per period and metric: its value, the group's spread and its rank.
-- The metrics' sources are below; which metrics are published and which way is better
-- come from the `benchmark_metrics` seed.
{%- set metric_sources = [
    {'mart': 'mart_recruitment', 'where': "carer_type = 'mainstream'",
     'metrics': ['r12_conversion_rate', 'r12_deregistration_rate']},
    {'mart': 'mart_sufficiency', 'where': none,
     'metrics': ['inhouse_fostering_share', 'place_utilisation', 'in_area_share', 'moves_3plus_12m_share', 'cla_rate_per_10k']},
    {'mart': 'mart_cost_comparison', 'where': none,
     'metrics': ['r12_inhouse_weekly_cost', 'r12_ifa_weekly_cost']},
] %}

with metric_values as (

    {%- for source in metric_sources %}
    {%- set source_loop = loop %}
    {%- for metric in source.metrics %}

    select
        la_code,
        period,
        cast('{{ metric }}' as varchar) as metric,
        cast({{ metric }} as double precision) as value
    from {{ ref(source.mart) }}
    {%- if source.where %}
    where {{ source.where }}
    {%- endif %}
    {% if not (source_loop.last and loop.last) %}union all{% endif %}
    {%- endfor %}
    {%- endfor %}

),

valued as (

    select
        v.la_code,
        la.la_name,
        la.region,
        la.hub,
        v.period,
        v.metric,
        v.value,
        bm.better
    from metric_values as v
    inner join {{ ref('benchmark_metrics') }} as bm
        on bm.metric = v.metric
    inner join {{ ref('local_authorities') }} as la
        on la.gss_code = v.la_code

),

grouped as (

    select 'hub' as group_type, hub as group_name, valued.* from valued where hub is not null
    union all
    select 'region' as group_type, region as group_name, valued.* from valued where region is not null
    union all
    select 'all' as group_type, 'all' as group_name, valued.* from valued

),

spread as (

    select
        group_type,
        group_name,
        period,
        metric,
        count(value) as group_n,
        min(value) as group_min,
        {{ benchmark_quantile_cont('value', 0.25) }} as group_q1,
        {{ benchmark_quantile_cont('value', 0.5) }} as group_median,
        {{ benchmark_quantile_cont('value', 0.75) }} as group_q3,
        max(value) as group_max
    from grouped
    group by group_type, group_name, period, metric

),

ranked as (

    select
        g.*,
        case
            when g.value is null or g.better not in ('higher', 'lower') then null
            else rank() over (
                partition by g.group_type, g.group_name, g.period, g.metric, (g.value is null)
                order by case when g.better = 'lower' then g.value else -g.value end
            )
        end as value_rank
    from grouped as g

)

select
    cast(r.group_type as varchar) as group_type,
    cast(r.group_name as varchar) as group_name,
    r.la_code,
    r.la_name,
    r.region,
    r.hub,
    r.period,
    r.metric,
    r.value,
    cast(s.group_n as integer) as group_n,
    cast(s.group_min as double precision) as group_min,
    cast(s.group_q1 as double precision) as group_q1,
    cast(s.group_median as double precision) as group_median,
    cast(s.group_q3 as double precision) as group_q3,
    cast(s.group_max as double precision) as group_max,
    cast(r.value_rank as integer) as {{ adapter.quote('rank') }},
    cast(r.better as varchar) as better
from ranked as r
inner join spread as s
    on s.group_type = r.group_type
    and s.group_name = r.group_name
    and s.period = r.period
    and s.metric = r.metric
where {{ monthly_slice('r.period') }}
