"""The warehouse and the hub's own tables in it:

- ``backends``: :class:`Warehouse`, one class per kind, where it is and how sqlalchemy, dlt
  and dbt reach it
- ``meta``: the hub's own schema ``hub_meta`` and its tables
- ``config_tables``: hub.yml's stages, stage map, rates, sources and quotas as tables
- ``observations``: the stage-observation rule (the hub keeps stage history itself)
- ``observed_deals``: PostgreSQL: the deals that rule looks at, those written since it ran
- ``quarantine``: one quarantine row per refused value, however often it is read
- ``builds``: whether the marts are one complete transform (``hub_transforms``)
- ``disk``: a full disk, found in any error and said with its path and the space needed
- ``changes``: which deals an incremental transform rebuilds (a per-deal input snapshot)
- ``deal_indexes``: PostgreSQL: the ``deal_key`` index that snapshot reads a few deals by
- ``row_hash``: one hash of a row's columns, computed by the warehouse
"""

from hub.warehouse.backends import Warehouse
from hub.warehouse.config_tables import stage_map_rows
from hub.warehouse.meta import HUB_SCHEMA, dataset_name, hub_runs

__all__ = ["HUB_SCHEMA", "Warehouse", "dataset_name", "hub_runs", "stage_map_rows"]
