"""The typed interface of the package root (:mod:`vmplatform`), whose module loads its names on
first use (PEP 562) and so imports nothing at start-up, typing included: the libvirt hook passes
most events through with only the interpreter's own start-up."""

from vmplatform.errors import (
    DataFileError as DataFileError,
)
from vmplatform.errors import (
    HostLacksFeatures as HostLacksFeatures,
)
from vmplatform.errors import (
    HostReportError as HostReportError,
)
from vmplatform.errors import (
    MissingFeature as MissingFeature,
)
from vmplatform.errors import (
    ProbeError as ProbeError,
)
from vmplatform.errors import (
    QemuError as QemuError,
)
from vmplatform.errors import (
    UnknownNameError as UnknownNameError,
)
from vmplatform.errors import (
    UsageError as UsageError,
)
from vmplatform.errors import (
    VmplatformError as VmplatformError,
)
from vmplatform.model.features import (
    AppliesTo as AppliesTo,
)
from vmplatform.model.features import (
    Catalog as Catalog,
)
from vmplatform.model.features import (
    Category as Category,
)
from vmplatform.model.features import (
    GovernedProperty as GovernedProperty,
)
from vmplatform.model.features import (
    HostFeature as HostFeature,
)
from vmplatform.model.features import (
    default_catalog as default_catalog,
)
from vmplatform.model.features import (
    load_catalog as load_catalog,
)
from vmplatform.model.machines import MachineCatalog as MachineCatalog
from vmplatform.model.machines import default_machine_catalog as default_machine_catalog
from vmplatform.model.platforms import Platform as Platform
from vmplatform.model.platforms import PlatformSet as PlatformSet
from vmplatform.model.platforms import load_platforms as load_platforms
from vmplatform.model.report import Evidence as Evidence
from vmplatform.model.report import FeatureResult as FeatureResult
from vmplatform.model.report import FeatureStatus as FeatureStatus
from vmplatform.model.report import HostIdentity as HostIdentity
from vmplatform.model.report import HostReport as HostReport
from vmplatform.model.vm import Backend as Backend
from vmplatform.model.vm import Device as Device
from vmplatform.model.vm import VmConfig as VmConfig
from vmplatform.probe.fake import FakeHost as FakeHost
from vmplatform.probe.linux import LinuxProbe as LinuxProbe
from vmplatform.resolution.resolve import Resolution as Resolution
from vmplatform.resolution.resolve import require_host as require_host
from vmplatform.resolution.resolve import resolve as resolve
from vmplatform.resolution.support import PlatformSupport as PlatformSupport
from vmplatform.resolution.support import SupportReport as SupportReport
from vmplatform.resolution.support import evaluate as evaluate

__version__: str
__all__: list[str]

def __dir__() -> list[str]: ...
def probe_host(catalog: Catalog | None = None, *, userns: bool = True) -> HostReport:
    """Probe this host with real Linux ioctls (never launches QEMU); returns a HostReport."""
