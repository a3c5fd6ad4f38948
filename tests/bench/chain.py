"""Generated chains for the benchmark. Everything is deterministic (seeded RNGs), so runs
are comparable. Two scenarios:

- `realistic` (the default): what a chain's repository looks like once an hourly
  inventory sync writes into it. One D-Store menu of 1,500 products (combos, groups,
  modifiers, overloads) that also carries cost, unit and supplier, so the same menu feeds
  D-Store, Tipsi and miPOS. One file per store under `stores/`; each store has stock for
  every SINGLE product of the menu (groups and modifiers carry none), its own prices for
  about 5% of the priced products and its own status for about 2%. Every store is on
  D-Store, every fourth also on Tipsi, every fifth also on miPOS (Tipsi and miPOS carry
  stock). `Realistic` below.
- `shared`: the earlier chain, kept as it was: all stores in one `stores.yaml`, 20 stock
  levels and a handful of overrides per store, every fourth store also on Tipsi.
  `Shared` below.

Both offer the same three moves on a written project: a pull request that edits five
stores, a drift of about 1% of the store-level facts, and back to the baseline.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

GROUPS = 100
MEMBERS = 13  # per group; 100 combos + 100 groups + 1,300 members = 1,500 products
TIPSI_EVERY = 4  # stores s0000, s0004, ... are also on Tipsi
MIPOS_EVERY = 5  # realistic chain: stores s0000, s0005, ... are also on miPOS
PRICE_SHARE, STATUS_SHARE = 0.05, 0.02  # realistic chain: a store's own prices and statuses
PR_STORES = 5  # stores a pull request edits
MIPOS_ACCOUNT = {"client_id": "bench-client", "client_secret": "bench-mipos-secret", "email": "bench@example.com",
                 "password": "bench-mipos-password", "user_id_tps": "30",
                 "inventory_system_id": "3d40a24e-d570-4598-ae68-e20687edd1f9", "pos_id": "1"}


def product_ids() -> list[str]:
    ids = []
    for g in range(GROUPS):
        ids += [f"combo{g}", f"g{g}"] + [f"m{g}-{i}" for i in range(MEMBERS)]
    return ids


def member_ids() -> list[str]:
    return [f"m{g}-{i}" for g in range(GROUPS) for i in range(MEMBERS)]


def member_kind(i: int) -> str:
    return "MODIFIER" if i % 3 == 2 else "SINGLE"


def menu_prices() -> dict[str, Decimal]:
    """The menu price of every priced product (combos and members; groups have none)."""
    prices = {}
    for g in range(GROUPS):
        prices[f"combo{g}"] = Decimal(f"{10 + g % 20}.90")
        for i in range(MEMBERS):
            prices[f"m{g}-{i}"] = Decimal(f"{1 + i}.{i % 10}0")
    return prices


def single_ids() -> list[str]:
    """The SINGLE products: the ones Tipsi and miPOS carry, and so the ones with stock."""
    return [pid for g in range(GROUPS)
            for pid in [f"combo{g}"] + [f"m{g}-{i}" for i in range(MEMBERS) if member_kind(i) == "SINGLE"]]


def menu_yaml(products_per_menu: int | None = None, currency: str = "SGD", inventory: bool = False) -> str:
    """The chain's menu. With `inventory`, SINGLE products also carry the cost, unit and
    supplier miPOS needs, and the file defines those units and suppliers."""
    lines = ["menus:", "  chain:", f"    currency: {currency}", "    products:"]
    count = 0
    for g in range(GROUPS):
        stocked = f', cost: "{4 + g % 10}.50", unit: {{purchase: box, consumption: set}}, supplier: sup{g % 10}' \
            if inventory else ""
        lines.append(f'      combo{g}: {{name: "set meal {g}", price: "{10 + g % 20}.90", barcodes: ["{3_000_000 + g}"], '
                     f'category: drink, sub_products: [g{g}]{stocked}}}')
        members = ", ".join(f"m{g}-{i}" for i in range(MEMBERS))
        lines.append(f'      g{g}: {{type: GROUP, name: "choice {g}", quantity: {{min: 1, max: 2}}, sub_products: [{members}]}}')
        for i in range(MEMBERS):
            kind = member_kind(i)
            stocked = f', cost: "0.{i % 10}5", unit: pcs, supplier: sup{(g + i) % 10}' \
                if inventory and kind == "SINGLE" else ""
            lines.append(
                f'      m{g}-{i}: {{type: {kind}, name: "item {g}-{i}", price: "{1 + i}.{i % 10}0", '
                f'barcodes: ["{2_000_000 + g * 100 + i}"], category: drink, quantity: {{min: 0, max: 10}}, '
                f'overloads: {{g{g}: {{price: "0.{i % 10}0", quantity: {{min: 0, max: 2}}}}}}{stocked}}}'
            )
        count += 2 + MEMBERS
        if products_per_menu and count >= products_per_menu:
            break
    if inventory:
        lines += ["units:", "  pcs: {name: Pieces, short_name: pcs}", "  box: {name: Box, short_name: box}",
                  "  set: {name: Set, short_name: set}", "suppliers:"]
        lines += [f"  sup{n}: {{name: Supplier {n}}}" for n in range(10)]
    return "\n".join(lines) + "\n"


def project_yaml(urls: dict[str, str], catalog: str, mipos: bool) -> str:
    """reconciler.yaml of a generated chain; `urls` are the emulators' loopback addresses."""
    retry = "retry: {attempts: 3, backoff: 0.1, max_backoff: 1, timeout: 60}"
    text = (
        f"catalog: {catalog}\n"
        "safety: {max_removed_share: 0.3, max_unavailable_share: 0.5}\n"
        "backends:\n"
        f'  dstore: {{provider: dstore, url: "{urls["dstore"]}", client_id: bench-client, pos_account_id: chain,\n'
        '           private_key: "${file:keys/client.pem}", gateway_public_key: "${file:keys/gateway.pem}",\n'
        f"           {retry}}}\n"
        f'  tipsi: {{provider: tipsi, url: "{urls["tipsi"]}", username: bench, password: "${{file:keys/tipsi-password}}",\n'
        f"          {retry}}}\n"
    )
    if mipos:
        account = MIPOS_ACCOUNT
        text += (
            f'  mipos: {{provider: mipos, url: "{urls["mipos"]}", client_id: {account["client_id"]},\n'
            '          client_secret: "${file:keys/mipos-secret}", email: bench@example.com,\n'
            f'          password: "${{file:keys/mipos-password}}", user_id_tps: "{account["user_id_tps"]}",\n'
            f'          inventory_system_id: {account["inventory_system_id"]}, {retry}}}\n'
        )
    return text


# -- the shared chain (the earlier benchmark, unchanged) ------------------------------------

def stores_yaml(stores: int, drift: dict[str, dict] | None = None, seed: int = 7) -> str:
    """Stores with a few overrides each; `drift` adds per-store status/price changes."""
    rng = random.Random(seed)
    members = member_ids()
    lines = ["stores:"]
    for n in range(stores):
        sid = f"s{n:04d}"
        prices = {pid: f"{rng.randint(2, 30)}.{rng.choice(['00', '50', '90'])}" for pid in rng.sample(members, 3)}
        status = {pid: "SOLDOUT" for pid in rng.sample(members, 2)}
        stock = {pid: rng.randint(0, 50) for pid in rng.sample(members, 20)}
        extra = (drift or {}).get(sid, {})
        prices.update(extra.get("prices", {}))
        status.update(extra.get("status", {}))
        stock.update(extra.get("stock", {}))
        lines.append(f"  {sid}:")
        lines.append(f"    name: Store {n}")
        lines.append("    menu: chain")
        tipsi = f", tipsi: {{store_id: {10_000 + n}}}" if n % TIPSI_EVERY == 0 else ""
        lines.append(f"    backends: {{dstore: {{store_id: {sid}}}{tipsi}}}")
        lines.append("    prices: {" + ", ".join(f'{k}: "{v}"' for k, v in prices.items()) + "}")
        lines.append("    status: {" + ", ".join(f"{k}: {v}" for k, v in status.items()) + "}")
        lines.append("    stock: {" + ", ".join(f"{k}: {v}" for k, v in stock.items()) + "}")
    return "\n".join(lines) + "\n"


def drift(stores: int, share: float = 0.01, seed: int = 11) -> tuple[dict[str, dict], dict[str, int]]:
    """About `share` of all store-level facts changed: mostly statuses spread over every
    store, prices concentrated on a few stores (they take the full path), some stock."""
    rng = random.Random(seed)
    members = member_ids()
    facts = stores * len(product_ids())
    total = int(facts * share)
    n_price_stores = max(1, stores // 25)
    n_prices = total // 4
    n_stock = total // 10
    n_status = total - n_prices - n_stock
    changes: dict[str, dict] = {f"s{n:04d}": {"prices": {}, "status": {}, "stock": {}} for n in range(stores)}
    for i in range(n_status):
        sid = f"s{i % stores:04d}"
        changes[sid]["status"][rng.choice(members)] = "SOLDOUT"
    for i in range(n_prices):
        sid = f"s{i % n_price_stores:04d}"
        changes[sid]["prices"][rng.choice(members)] = f"{rng.randint(31, 60)}.00"
    for i in range(n_stock):
        sid = f"s{rng.randrange(stores):04d}"
        changes[sid]["stock"][rng.choice(members)] = rng.randint(51, 99)
    counts = {"status": n_status, "prices": n_prices, "stock": n_stock, "price_stores": n_price_stores}
    return changes, counts


def write_project(root: Path, url: str, tipsi_url: str, stores: int, drifted: dict[str, dict] | None = None) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "reconciler.yaml").write_text(project_yaml({"dstore": url, "tipsi": tipsi_url},
                                                       "[menu.yaml, stores.yaml]", mipos=False))
    (root / "menu.yaml").write_text(menu_yaml())
    (root / "stores.yaml").write_text(stores_yaml(stores, drifted))


class Shared:
    """The earlier chain: every store in `stores.yaml`, sharing almost everything."""

    name = "shared"
    mipos = False

    def __init__(self, stores: int):
        self.stores = stores
        self._drift, self.drift_counts = drift(stores)
        self.pr_stores = [f"s{n * stores // PR_STORES:04d}" for n in range(PR_STORES)]
        rng = random.Random(13)
        self._pr = {sid: {"prices": {pid: f"{rng.randint(31, 60)}.00" for pid in rng.sample(member_ids(), 3)},
                          "status": {pid: "SOLDOUT" for pid in rng.sample(member_ids(), 2)}}
                    for sid in self.pr_stores}

    def write(self, root: Path, urls: dict[str, str]) -> None:
        write_project(root, urls["dstore"], urls["tipsi"], self.stores)

    def edit_pr(self, root: Path) -> None:
        (root / "stores.yaml").write_text(stores_yaml(self.stores, self._pr))

    def edit_drift(self, root: Path) -> None:
        (root / "stores.yaml").write_text(stores_yaml(self.stores, self._drift))

    def restore(self, root: Path) -> None:
        (root / "stores.yaml").write_text(stores_yaml(self.stores))


# -- the realistic chain ----------------------------------------------------------------------

@dataclass(frozen=True)
class StoreFacts:
    """What one store's file says beyond the menu."""

    n: int
    prices: dict[str, str]
    status: dict[str, str]
    stock: dict[str, int]
    backends: tuple[str, ...] = field(default=("dstore",))

    @property
    def id(self) -> str:
        return f"s{self.n:04d}"

    def text(self) -> str:
        """The store's file, block style, one fact a line: what an inventory sync job or
        `reconciler import` leaves in a repository."""
        sid = self.id
        bindings = {"dstore": f"{{store_id: {sid}}}", "tipsi": f"{{store_id: {10_000 + self.n}}}",
                    "mipos": f'{{store_id: "{20_000 + self.n}"}}'}
        lines = ["stores:", f"  {sid}:", f"    name: Store {self.n}", "    menu: chain", "    backends:"]
        lines += [f"      {b}: {bindings[b]}" for b in self.backends]
        for section, values in (("prices", self.prices), ("status", self.status), ("stock", self.stock)):
            if values:
                lines.append(f"    {section}:")
                lines += [f"      {pid}: {value}" for pid, value in values.items()]
        return "\n".join(lines) + "\n"


def realistic_stores(stores: int, seed: int = 7) -> list[StoreFacts]:
    rng = random.Random(seed)
    prices = menu_prices()
    priced = list(prices)
    singles = single_ids()
    n_prices, n_status = round(len(priced) * PRICE_SHARE), round(len(product_ids()) * STATUS_SHARE)
    out = []
    for n in range(stores):
        backends = ("dstore",) + (("tipsi",) if n % TIPSI_EVERY == 0 else ()) + (("mipos",) if n % MIPOS_EVERY == 0 else ())
        own = {pid: str(prices[pid] + Decimal(rng.choice(("0.10", "0.20", "0.50", "1.00"))))
               for pid in sorted(rng.sample(priced, n_prices))}
        status = {pid: "SOLDOUT" for pid in sorted(rng.sample(priced, n_status))}
        # About one item in forty is out of stock; the rest between 1 and 80.
        stock = {pid: 0 if rng.random() < 0.025 else rng.randint(1, 80) for pid in singles}
        out.append(StoreFacts(n, own, status, stock, backends))
    return out


def realistic_drift(base: list[StoreFacts], share: float = 0.01, seed: int = 11) -> tuple[list[StoreFacts], dict]:
    """About `share` of the chain's store-level facts changed as operations change them:
    stock levels and sold-out items in most stores, a few busy stores with ten times as
    many, and a regional price change concentrated on one store in twenty-five."""
    rng = random.Random(seed)
    stores = len(base)
    prices, singles = menu_prices(), single_ids()
    priced = list(prices)
    total = int(stores * len(product_ids()) * share)
    n_stock, n_status = total // 2, total * 35 // 100
    n_prices = total - n_stock - n_status
    facts = [replace(f, prices=dict(f.prices), status=dict(f.status), stock=dict(f.stock)) for f in base]
    weights = [10 if n % 20 == 7 else 1 for n in range(stores)]  # one store in twenty is busy
    for n in rng.choices(range(stores), weights, k=n_stock):
        pid = rng.choice(singles)
        facts[n].stock[pid] = (facts[n].stock[pid] + rng.randint(1, 30)) % 100
    for n in rng.choices(range(stores), weights, k=n_status):
        pid = rng.choice(priced)
        if facts[n].status.pop(pid, None) is None:  # back on sale, or sold out
            facts[n].status[pid] = "SOLDOUT"
    price_stores = list(range(0, stores, 25))
    for i in range(n_prices):
        store = facts[price_stores[i % len(price_stores)]]
        pid = rng.choice(priced)
        store.prices[pid] = str(prices[pid] + Decimal(rng.choice(("0.30", "0.60", "1.20"))) + Decimal(i % 7) / 10)
    touched = sum(1 for a, b in zip(base, facts) if a != b)
    counts = {"stock": n_stock, "status": n_status, "prices": n_prices, "price_stores": len(price_stores),
              "stores_touched": touched}
    return facts, counts


def realistic_pr(base: list[StoreFacts], seed: int = 13) -> list[StoreFacts]:
    """A pull request: five stores spread over the chain each get new prices for three
    products, one status flipped and ten stock levels."""
    rng = random.Random(seed)
    prices, singles = menu_prices(), single_ids()
    facts = list(base)
    for k in range(min(PR_STORES, len(base))):
        n = k * len(base) // PR_STORES + 3 if len(base) > PR_STORES * 4 else k
        store = replace(base[n], prices=dict(base[n].prices), status=dict(base[n].status), stock=dict(base[n].stock))
        for pid in rng.sample(list(prices), 3):
            store.prices[pid] = str(prices[pid] + Decimal("2.00"))
        pid = rng.choice(list(prices))
        if store.status.pop(pid, None) is None:
            store.status[pid] = "SOLDOUT"
        for pid in rng.sample(singles, 10):
            store.stock[pid] = (store.stock[pid] + 7) % 100
        facts[n] = store
    return facts


class Realistic:
    """One file per store, full stock, a few percent of each store its own."""

    name = "realistic"
    mipos = True

    def __init__(self, stores: int):
        self.stores = stores
        self._base = realistic_stores(stores)
        self._drifted, self.drift_counts = realistic_drift(self._base)
        self._pr = realistic_pr(self._base)
        self.pr_stores = [b.id for a, b in zip(self._base, self._pr) if a is not b]
        self._on_disk: dict[str, str] = {}

    def write(self, root: Path, urls: dict[str, str]) -> None:
        (root / "stores").mkdir(parents=True, exist_ok=True)
        (root / "reconciler.yaml").write_text(project_yaml(urls, "[menu.yaml, stores/]", mipos=True))
        (root / "menu.yaml").write_text(menu_yaml(inventory=True))
        self._write(root, self._base)

    def _write(self, root: Path, facts: list[StoreFacts]) -> None:
        """Rewrite the store files whose text differs from what is on disk."""
        for store in facts:
            text = store.text()
            if self._on_disk.get(store.id) != text:
                (root / "stores" / f"{store.id}.yaml").write_text(text)
                self._on_disk[store.id] = text

    def edit_pr(self, root: Path) -> None:
        self._write(root, self._pr)

    def edit_drift(self, root: Path) -> None:
        self._write(root, self._drifted)

    def restore(self, root: Path) -> None:
        self._write(root, self._base)


SCENARIOS = {"realistic": Realistic, "shared": Shared}


def big_file(products: int = 10_000) -> str:
    lines = ["menus:", "  big:", "    currency: SGD", "    products:"]
    for i in range(products):
        lines.append(f'      p{i}: {{name: "product {i}", price: "{i % 50}.{i % 100:02d}", '
                     f'quantity: {{min: 0, max: 5}}, barcodes: ["{10_000_000 + i}"]}}')
    return "\n".join(lines) + "\n"
