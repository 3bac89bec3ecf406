"""A deterministic generator of synthetic, realistic monthly fostering returns.

`generate(Path("raw/sample"))` writes the bundled sample: 8 LAs from two
regional fostering hubs, 30 months (2021-04 .. 2023-09), in all three return
forms, with one resubmission. Every rule of the return contract holds in every
return, and the returns agree with each other over time:

- children are simulated one placement at a time, month by month (endings,
  moves, leaving care at 18, new entrants drawn as whole arrays), so a
  month's `placements` table is every placement open at some time in that month
  and an ended placement never comes back;
- mainstream households reconcile every month (stock = previous stock +
  approvals - deregistrations) and `places_filled` is exactly the number of
  in-house mainstream foster placements (U4-U6 with PR1) open at month end;
  connected households likewise against U1-U3 placements;
- `withdrawals` add up to `recruitment.applications_withdrawn`, requests add up,
  places add up, finance actuals follow the placements' weekly costs;
- Trafford's mainstream recruitment and households for 2021-04 .. 2022-02 are
  its real published series (`sample_data/trafford_2021_22_monthly.csv`).

`generate_national(Path("/tmp/scale"))` writes an England-sized history
for measuring the pipeline at scale (`fostering sample --national`): 150 LAs
(the reference list's real LAs and synthetic ones between them) x 120
months from 2016-04, about 550 placements per return, in one form, with the
history's own LA reference list in `<out>/.reference/`.

Only a seeded numpy Generator is used (one stream per LA, keyed by its code),
never the clock, so the same arguments give byte-identical files.

The modules, in the order the generator uses them:

- `writer`: `generate()`, which checks its arguments and writes the files
  (`write_la`: one LA's simulation and returns, a job for a worker process);
- `national`: `generate_national()`, the England-sized history, and
  `england`: its LA reference list (real and synthetic LAs);
- `las`: which LAs, in which order, and their submission habits;
- `trafford`: Trafford's real series;
- `simulation`: `LocalAuthority`, the month-by-month simulation of one LA,
  assembled from the mixins `register` (the arrays of children, placements and
  households), `households`, `recruitment`, `finance` and `tables` (the return
  of a month, built from the simulated state);
- `categories`: the placement categories, codes and costs, and their draws;
- `days`: dates as day numbers.
"""

from .england import england_las
from .las import ordered_las, slug
from .national import generate_national
from .trafford import trafford_series
from .writer import generate

__all__ = ["england_las", "generate", "generate_national", "ordered_las", "slug", "trafford_series"]
