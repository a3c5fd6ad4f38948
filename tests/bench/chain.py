"""A generated chain for the benchmark: one D-Store menu of 1,500 products (groups,
modifiers, overloads) shared by many stores, each with price, status and stock overrides.
Every fourth store also sells through Tipsi (its SINGLE products, with stock), so stock
drift has a backend that carries it and the apply is measured against two backends.

Everything is deterministic (a seeded RNG), so runs are comparable.
"""

from __future__ import annotations

import random
from pathlib import Path

GROUPS = 100
MEMBERS = 13  # per group; 100 combos + 100 groups + 1,300 members = 1,500 products
TIPSI_EVERY = 4  # stores s0000, s0004, ... are also on Tipsi


def product_ids() -> list[str]:
    ids = []
    for g in range(GROUPS):
        ids += [f"combo{g}", f"g{g}"] + [f"m{g}-{i}" for i in range(MEMBERS)]
    return ids


def member_ids() -> list[str]:
    return [f"m{g}-{i}" for g in range(GROUPS) for i in range(MEMBERS)]


def menu_yaml(products_per_menu: int | None = None, currency: str = "SGD") -> str:
    lines = ["menus:", "  chain:", f"    currency: {currency}", "    products:"]
    count = 0
    for g in range(GROUPS):
        lines.append(f'      combo{g}: {{name: "set meal {g}", price: "{10 + g % 20}.90", barcodes: ["{3_000_000 + g}"], '
                     f'sub_products: [g{g}]}}')
        members = ", ".join(f"m{g}-{i}" for i in range(MEMBERS))
        lines.append(f'      g{g}: {{type: GROUP, name: "choice {g}", quantity: {{min: 1, max: 2}}, sub_products: [{members}]}}')
        for i in range(MEMBERS):
            kind = "MODIFIER" if i % 3 == 2 else "SINGLE"
            lines.append(
                f'      m{g}-{i}: {{type: {kind}, name: "item {g}-{i}", price: "{1 + i}.{i % 10}0", '
                f'barcodes: ["{2_000_000 + g * 100 + i}"], quantity: {{min: 0, max: 10}}, '
                f'overloads: {{g{g}: {{price: "0.{i % 10}0", quantity: {{min: 0, max: 2}}}}}}}}'
            )
        count += 2 + MEMBERS
        if products_per_menu and count >= products_per_menu:
            break
    return "\n".join(lines) + "\n"


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
    (root / "reconciler.yaml").write_text(
        "catalog: [menu.yaml, stores.yaml]\n"
        "safety: {max_removed_share: 0.3, max_unavailable_share: 0.5}\n"
        "backends:\n"
        f'  dstore: {{provider: dstore, url: "{url}", client_id: bench-client, pos_account_id: chain,\n'
        '           private_key: "${file:keys/client.pem}", gateway_public_key: "${file:keys/gateway.pem}",\n'
        "           retry: {attempts: 3, backoff: 0.1, max_backoff: 1, timeout: 60}}\n"
        f'  tipsi: {{provider: tipsi, url: "{tipsi_url}", username: bench, password: "${{file:keys/tipsi-password}}",\n'
        "          retry: {attempts: 3, backoff: 0.1, max_backoff: 1, timeout: 60}}\n"
    )
    (root / "menu.yaml").write_text(menu_yaml())
    (root / "stores.yaml").write_text(stores_yaml(stores, drifted))


def big_file(products: int = 10_000) -> str:
    lines = ["menus:", "  big:", "    currency: SGD", "    products:"]
    for i in range(products):
        lines.append(f'      p{i}: {{name: "product {i}", price: "{i % 50}.{i % 100:02d}", '
                     f'quantity: {{min: 0, max: 5}}, barcodes: ["{10_000_000 + i}"]}}')
    return "\n".join(lines) + "\n"
