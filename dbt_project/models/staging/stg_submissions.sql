-- Every return received (accepted, with warnings, rejected), from the ledger.
select
    submission_id,
    source_path,
    form,
    la_code,
    la_code_submitted,
    cast(period as date) as period,
    return_version,
    contract_version,
    cast(submitted_at as timestamp) as submitted_at,
    cast(received_at as timestamp) as received_at,
    status,
    cast(errors as integer) as errors,
    cast(warnings as integer) as warnings,
    is_current,
    superseded_by,
    cast(placement_rows as integer) as placement_rows
from {{ source('ops', 'submissions') }}
