"""Generate realistic rule sets of any size for benchmarks (no randomness: same size, same file).

A site with N rules spread over N/10 slots and N/10 segments on the three layers. Segment
conditions mix contextual, technical and behavioral signals the way real rule sets do; about a
third of the rules add an inline condition; every rule has its own content block.
"""

from __future__ import annotations

import json
from typing import Any

LAYERS = ("broad", "mid", "specific")
SOURCES = ["newsletter", "blog", "google", "facebook", "partner", "affiliate", "tiktok", "podcast"]
CATEGORIES = ["tents", "packs", "boots", "stoves", "jackets", "lamps", "maps", "ropes"]
COUNTRIES = ["US", "DE", "FR", "GB", "CA", "NL", "SE", "AU"]


def segment_condition(i: int) -> str:
    k = i % 6
    if k == 0:
        return f'utm.source == "{SOURCES[i % len(SOURCES)]}" && session.page_views >= {1 + i % 5}'
    if k == 1:
        return f'"{CATEGORIES[i % len(CATEGORIES)]}" in session.recent_categories && device.type == "{["mobile", "desktop", "tablet"][i % 3]}"'
    if k == 2:
        return f'geo.country in ["{COUNTRIES[i % 8]}", "{COUNTRIES[(i + 3) % 8]}"] && time.hour >= {i % 24}'
    if k == 3:
        return f'cart.items.exists(it, it.category == "{CATEGORIES[i % 8]}" && it.price > {10 + i % 90}.0) && !session.purchased'
    if k == 4:
        return f'session.visit_count > {1 + i % 4} && referrer.class == "{["search", "social", "email", "direct"][i % 4]}"'
    return f'page.path.startsWith("/c/{CATEGORIES[i % 8]}") || search.query.contains("{CATEGORIES[(i + 1) % 8]}")'


def ruleset(n_rules: int, rules_per_slot: int = 10) -> dict[str, Any]:
    n_segments = max(1, n_rules // 10)
    n_slots = max(1, n_rules // rules_per_slot)
    segments = [
        {"id": f"seg_{i}", "layer": LAYERS[i % 3], "when": segment_condition(i)} for i in range(n_segments)
    ]
    slots = []
    r = 0
    for s in range(n_slots):
        rules = []
        for j in range(rules_per_slot):
            rule: dict[str, Any] = {
                "id": f"r{r}",
                "segment": f"seg_{(s * 7 + j * 13) % n_segments}",
                "priority": j % 3,
                "content": {"headline": f"Offer {r} for slot {s}", "image": f"/img/{r % 50}.webp", "cta": {"text": "Shop now", "href": f"/p/{r}"}},
            }
            if r % 3 == 0:
                rule["when"] = f"session.page_views > {r % 7}"
            rules.append(rule)
            r += 1
        slots.append({"id": f"slot{s}", "default": {"headline": f"Welcome to slot {s}"}, "rules": rules})
    return {"strata": 1, "name": f"bench{n_rules}", "segments": segments, "slots": slots}


def dump(rs: dict[str, Any]) -> str:
    """JSON is YAML: the compiler reads it as a rule-set file."""
    return json.dumps(rs, indent=1)
