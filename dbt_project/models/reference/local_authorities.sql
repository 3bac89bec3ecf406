-- The LA list, from the reference folder the ingest validated against, so that a deployment
-- (or the national benchmark) with its own list has the same LAs in its marts as in its ledger.
select
    cast(gss_code as {{ dbt.type_string() }}) as gss_code,
    cast(dfe_code as {{ dbt.type_string() }}) as dfe_code,
    cast(la_name as {{ dbt.type_string() }}) as la_name,
    cast(region as {{ dbt.type_string() }}) as region,
    cast(nullif(hub, '') as {{ dbt.type_string() }}) as hub,
    cast(child_population_0_17 as integer) as child_population_0_17
from {{ source('reference_files', 'local_authorities') }}
