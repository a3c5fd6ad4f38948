"""The shape of the files users write: pydantic models for catalogs and the project file.

Shape only. Rules that look across entities (references, cycles, per-store limits) are
in `validation.py`; rules of one backend are in that backend's provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

ProductType = Literal["SINGLE", "GROUP", "MODIFIER"]
Status = Literal["AVAILABLE", "SOLDOUT"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _decimal_not_bool(value: Any) -> Any:
    # YAML `yes` is a bool and bool is an int to Python: never let it pass as a number.
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError("must be a decimal number such as 10.00")
    return value


def _bounded_amount(value: Decimal) -> Decimal:
    # A price of thousands of digits is a typo, and would break on its way to a backend
    # (Python refuses to print an int of more than 4,300 digits). Far above any real
    # amount or stock level, in any currency.
    if value.copy_abs() >= AMOUNT_LIMIT or len(value.as_tuple().digits) > AMOUNT_DIGITS:
        raise ValueError(f"must be below 10^{AMOUNT_LIMIT.adjusted()} and have at most {AMOUNT_DIGITS} digits")
    return value


AMOUNT_LIMIT, AMOUNT_DIGITS = Decimal("1e15"), 30
Amount = Annotated[Decimal, Field(allow_inf_nan=False), AfterValidator(_bounded_amount)]
Id = Annotated[StrictStr, Field(min_length=1)]


class QuantityRule(Strict):
    min: StrictInt  # strict: YAML `yes` is a bool, and a bool must never pass as 1
    max: StrictInt


class Overload(Strict):
    price: Amount | None = None
    quantity: QuantityRule | None = None

    _no_bool = field_validator("price", mode="before")(_decimal_not_bool)


class UnitPair(Strict):
    purchase: Id
    consumption: Id


class Product(Strict):
    type: ProductType = "SINGLE"
    name: StrictStr
    price: Amount | None = None
    status: Status = "AVAILABLE"
    quantity: QuantityRule | None = None
    sub_products: list[Id] = Field(default_factory=list)
    overloads: dict[Id, Overload] = Field(default_factory=dict)
    barcodes: list[StrictStr] = Field(default_factory=list)
    cost: Amount | None = None
    unit: Id | UnitPair | None = None
    supplier: Id | None = None
    unit_size: StrictStr | None = None
    category: StrictStr | None = None

    _no_bool = field_validator("price", "cost", mode="before")(_decimal_not_bool)


class Menu(Strict):
    currency: StrictStr
    products: dict[Id, Product] = Field(default_factory=dict)


class Unit(Strict):
    name: StrictStr
    short_name: StrictStr


class Supplier(Strict):
    name: StrictStr


class StockEntry(Strict):
    """Stock with lot details, for backends that track lots and dates."""

    quantity: Amount
    lot_number: StrictStr | None = None
    manuf_date: StrictStr | None = None
    expir_date: StrictStr | None = None

    _no_bool = field_validator("quantity", mode="before")(_decimal_not_bool)


@dataclass(frozen=True, slots=True)
class StockLevel:
    """A store's stock of one product as providers read it, built from a validated
    `StockEntry` or stock amount. A plain class: a chain whose stores carry stock for
    every product builds hundreds of thousands of them per plan."""

    quantity: Decimal
    lot_number: str | None = None
    manuf_date: str | None = None
    expir_date: str | None = None

    @classmethod
    def of(cls, value: Decimal | StockEntry) -> StockLevel:
        if isinstance(value, StockEntry):
            return cls(value.quantity, value.lot_number, value.manuf_date, value.expir_date)
        return cls(value)


class Safety(Strict):
    max_removed_share: float = Field(0.3, ge=0, le=1)
    max_unavailable_share: float = Field(0.3, ge=0, le=1)


class Store(Strict):
    name: StrictStr
    safety: Safety | None = None  # overrides the project's thresholds for this store
    menu: Id
    backends: dict[Id, dict[str, Any]] = Field(default_factory=dict)
    prices: dict[Id, Amount] = Field(default_factory=dict)
    status: dict[Id, Status] = Field(default_factory=dict)
    stock: dict[Id, Amount | StockEntry] | StrictStr = Field(default_factory=dict)

    @field_validator("prices", mode="before")
    @classmethod
    def _prices_not_bool(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for item in value.values():
                _decimal_not_bool(item)
        return value


class CatalogFile(Strict):
    """One catalog file: any of the four sections."""

    menus: dict[Id, Menu] = Field(default_factory=dict)
    stores: dict[Id, Store] = Field(default_factory=dict)
    units: dict[Id, Unit] = Field(default_factory=dict)
    suppliers: dict[Id, Supplier] = Field(default_factory=dict)


class BackendEntry(BaseModel):
    """A backend in `reconciler.yaml`; its other keys belong to the provider's settings."""

    model_config = ConfigDict(extra="allow", frozen=True)
    provider: Id
    # Resource fields this backend owns: the plan takes their values from what the backend
    # holds and only reports drift in them. Default: the catalog (git) owns every field.
    owned_fields: list[Id] = Field(default_factory=list)
    # The reconciler owns every store of this backend: a first apply may replace or clear
    # what a store held before (a full sync). Default: it owns only what it has applied.
    owned: bool = False


class ProjectFile(Strict):
    catalog: list[StrictStr] | StrictStr | None = None
    state: StrictStr = "sqlite:///.reconciler/state.db"
    safety: Safety = Safety()
    backends: dict[Id, BackendEntry] = Field(default_factory=dict)
    vars: dict[str, Any] = Field(default_factory=dict)
