-- mart_finance (marts-v1): spend against budget per LA, period and cost line, for the month
-- and for the financial year to date (the year starts on 1 April), summing the returns present.

with current_returns as (

    select la_code, period
    from {{ ref('stg_submissions') }}
    where is_current and status <> 'rejected'

),

finance as (

    select la_code, period, cost_line, actual, budget
    from {{ ref('stg_finance') }}

),

-- A cost line keeps a row in every later month of the financial year once it has been
-- reported in it, so its year-to-date figures do not vanish in a month that omits it.
cost_lines_in_year as (

    select
        la_code,
        {{ financial_year_start('period') }} as year_start,
        cost_line,
        min(period) as first_period
    from finance
    group by la_code, {{ financial_year_start('period') }}, cost_line

),

monthly as (

    select
        r.la_code,
        r.period,
        l.cost_line,
        f.actual,
        f.budget,
        f.actual - f.budget as variance
    from current_returns as r
    inner join cost_lines_in_year as l
        on l.la_code = r.la_code
        and l.year_start = {{ financial_year_start('r.period') }}
        and l.first_period <= r.period
    left join finance as f
        on f.la_code = r.la_code and f.period = r.period and f.cost_line = l.cost_line

),

year_to_date as (

    select
        m.la_code,
        m.period,
        m.cost_line,
        sum(y.actual) as fytd_actual,
        sum(y.budget) as fytd_budget,
        sum(y.variance) as fytd_variance
    from monthly as m
    inner join monthly as y
        on y.la_code = m.la_code
        and y.cost_line = m.cost_line
        and y.period >= {{ financial_year_start('m.period') }}
        and y.period <= m.period
    group by m.la_code, m.period, m.cost_line

)

select
    m.la_code,
    {{ la_attributes('la') }},
    m.period,
    m.cost_line,
    cast(m.actual as decimal(14, 2)) as actual,
    cast(m.budget as decimal(14, 2)) as budget,
    cast(m.variance as decimal(14, 2)) as variance,
    cast(y.fytd_actual as decimal(14, 2)) as fytd_actual,
    cast(y.fytd_budget as decimal(14, 2)) as fytd_budget,
    cast(y.fytd_variance as decimal(14, 2)) as fytd_variance
from monthly as m
inner join year_to_date as y
    on y.la_code = m.la_code and y.period = m.period and y.cost_line = m.cost_line
left join {{ ref('local_authorities') }} as la
    on la.gss_code = m.la_code
where {{ monthly_slice('m.period') }}
