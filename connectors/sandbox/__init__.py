"""What every CRM sandbox shares: the HTTP server base class (``server``) and its knobs
(``spec``).

Nothing on a connector's pull path imports this package: a sandbox is loaded only when one
is asked for, through ``connectors.registry.sandbox_class``.
"""

from connectors.sandbox.server import FaultPlan, SandboxRequest, SandboxResponse, SandboxServer
from connectors.sandbox.spec import SandboxSpec

__all__ = ["FaultPlan", "SandboxRequest", "SandboxResponse", "SandboxServer", "SandboxSpec"]
