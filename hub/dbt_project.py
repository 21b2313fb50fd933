"""Where the hub's dbt project is: the packaged copy when installed, else the checkout.

The project (dbt_project.yml, profiles.yml, transforms/) lives at the repository root; a
wheel carries a copy in ``hub/_dbt_project/`` (setup.py puts it there at build time), so an
installed hub never looks for it beside site-packages or in the working directory. dbt
needs a real folder, and wheels install unzipped, so this is a plain path, not a resource.
"""

from __future__ import annotations

from pathlib import Path

from models.errors import HubError

PACKAGED = Path(__file__).resolve().parent / "_dbt_project"
CHECKOUT = Path(__file__).resolve().parent.parent


def project_dir() -> Path:
    """The folder holding dbt_project.yml; also the default --profiles-dir."""
    for folder in (PACKAGED, CHECKOUT):
        if (folder / "dbt_project.yml").is_file():
            return folder
    raise HubError(
        f"the hub's dbt project is missing: no dbt_project.yml in {PACKAGED} or {CHECKOUT}; "
        "reinstall crm-sync-hub from its wheel or run it from a checkout"
    )
