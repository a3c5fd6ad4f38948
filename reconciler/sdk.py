"""The public SDK for provider plugins. A plugin imports from here and nowhere else in
`reconciler`, so the engine can change inside without breaking plugins."""

from .diff import FieldChange, ResourceChange
from .emulation import (
    JsonFile,
    ConnectionDropped,
    DroppedConnection,
    Fault,
    FaultQueue,
    Hang,
    InProcessTransport,
    faults_endpoint,
)
from .errors import BackendError, Location, OutcomeUnknown, ReconcilerError, SecretError
from .expand import ResourceCache, StoreProduct, StoreView
from .fingerprint import encode_body, encoded_size, fingerprint
from .model import StockEntry, StockLevel
from .money import from_minor_units, to_minor_units
from .plan import Action, Cost, Effect, StorePlan
from .redaction import register_secret, scrub
from .provider import (
    EMULATOR_URL,
    BackendSettings,
    CompileRequest,
    DesiredStore,
    Finding,
    Imported,
    ImportedProduct,
    ObservationSink,
    Observed,
    Program,
    Provider,
    ProviderContext,
    RetrySettings,
)

__all__ = [
    "JsonFile",
    "BackendSettings", "EMULATOR_URL",
    "Action", "BackendError", "CompileRequest", "ConnectionDropped", "Cost", "DesiredStore",
    "DroppedConnection", "Effect", "encode_body", "encoded_size", "Fault", "FaultQueue", "faults_endpoint",
    "FieldChange", "Finding", "fingerprint", "from_minor_units", "Hang", "Imported",
    "ImportedProduct", "InProcessTransport", "Location", "ObservationSink", "Observed",
    "OutcomeUnknown", "Program", "Provider", "ProviderContext", "ReconcilerError", "register_secret", "SecretError",
    "ResourceCache", "ResourceChange", "RetrySettings", "scrub", "StockEntry", "StockLevel", "StorePlan", "StoreProduct",
    "StoreView", "to_minor_units",
]
