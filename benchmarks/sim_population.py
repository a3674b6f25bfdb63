"""Synthetic visitors for the one-to-one simulations, and the truth the simulation knows about them.

A visitor is five independent features, each reaching the edge server the way a real browser's
would: the device through its User-Agent (``device.type``), the campaign through ``utm_source`` in
the first URL of the visit (``session.utm_source``), the visit's depth through several page views
(``session.page_views``), an interest through the category of a viewed page
(``session.recent_categories`` contains ``tents``) and the cart total as a declared client signal in
the decide body (``cart.value``). Its true chance to convert is logistic in those features
(:class:`Truth`), so a model over the same features can learn it exactly — from aggregate
counters only.

``browse`` plays one visit against a server (cookie carried from response to response) and
returns what the server decided on each page; ``convert`` posts the goal event.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

UA = {
    "mobile": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "desktop": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
    "tablet": "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
}
DEVICES = (("mobile", 0.5), ("desktop", 0.4), ("tablet", 0.1))
SOURCES = (("", 0.4), ("google", 0.3), ("newsletter", 0.15), ("facebook", 0.15))
PAGES = ((1, 0.3), (2, 0.18), (3, 0.14), (4, 0.11), (5, 0.09), (6, 0.07), (7, 0.06), (8, 0.05))
TENTS = 0.3
OTHER_CATEGORIES = ("boots", "jackets", "stoves", "lamps")
CART = 0.4  # share of visits with a cart; its total is uniform over 10..300

#: The model's features, as the rule set declares them (the simulation's truth uses the same
#: buckets, so the learnable optimum is the truth itself).
FEATURES_YAML = """\
      device: {signal: device.type, values: [mobile, desktop, tablet]}
      source: {signal: session.utm_source, values: [newsletter, google, facebook]}
      depth:  {signal: session.page_views, edges: [2, 4, 6]}
      tents:  {signal: session.recent_categories, contains: tents}
      cart:   {signal: cart.value, edges: [50.0, 150.0]}"""
DEPTH_EDGES = (2, 4, 6)
CART_EDGES = (50.0, 150.0)


@dataclass(frozen=True, slots=True)
class Visitor:
    n: int
    device: str
    source: str  # "" = no campaign
    pages: int  # page views in the visit
    tents: bool  # one of its pages is in the tents category
    cart: float  # cart total sent with the last page view (0: no cart)
    categories: tuple[str, ...] = field(default=())  # the category of each page, in order

    def level_names(self) -> dict[str, str]:
        """The level of each model feature at the end of the visit, named as the bundle names them
        (docs/models.md): what the server counts for this visit once it has left every earlier level."""
        return {
            "device": self.device,
            "source": self.source if self.source in ("newsletter", "google", "facebook") else "(other)",
            "depth": _edge_level(self.pages, DEPTH_EDGES, str),
            "tents": "yes" if self.tents else "no",
            "cart": _edge_level(self.cart, CART_EDGES, repr),
        }

    def signals(self, page: int | None = None) -> dict[str, Any]:
        """The model signals a server derives at page view ``page`` (0-based; default the last)."""
        k = self.pages - 1 if page is None else page
        recent = list(dict.fromkeys(c for c in reversed(self.categories[: k + 1]) if c))
        s: dict[str, Any] = {"device.type": self.device, "session.utm_source": self.source, "session.page_views": k + 1,
                             "session.recent_categories": recent}
        if k == self.pages - 1 and self.cart:
            s["cart.value"] = self.cart
        return s


def _edge_level(v: float, edges: Sequence[float], fmt: Any) -> str:
    if v < edges[0]:
        return f"<{fmt(edges[0])}"
    for lo, hi in zip(edges, edges[1:]):
        if lo <= v < hi:
            return f"[{fmt(lo)},{fmt(hi)})"
    return f">={fmt(edges[-1])}"


def pick(rng: random.Random, table: Sequence[tuple[Any, float]]) -> Any:
    x = rng.random()
    for v, p in table:
        x -= p
        if x < 0:
            return v
    return table[-1][0]


def visitors(count: int, seed: int, start: int = 0) -> list[Visitor]:
    """``count`` independent visitors (the same seed gives the same visitors)."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        device = pick(rng, DEVICES)
        source = pick(rng, SOURCES)
        pages = pick(rng, PAGES)
        tents = rng.random() < TENTS
        cart = round(rng.uniform(10, 300), 2) if rng.random() < CART else 0.0
        cats = [rng.choice(OTHER_CATEGORIES) for _ in range(pages)]
        if tents:
            cats[rng.randrange(pages)] = "tents"
        out.append(Visitor(start + i, device, source, pages, tents, cart, tuple(cats)))
    return out


# ---------------------------------------------------------------------- truth
@dataclass(frozen=True)
class Truth:
    """A logistic model over the visitor's feature levels: ``bias + Σ weights[feature][level]``."""

    bias: float
    weights: Mapping[str, Mapping[str, float]]

    def logit(self, v: Visitor) -> float:
        lv = v.level_names()
        return self.bias + sum(self.weights.get(f, {}).get(lv[f], 0.0) for f in lv)

    def p(self, v: Visitor, shift: float = 0.0) -> float:
        return 1.0 / (1.0 + math.exp(-(self.logit(v) + shift)))


#: Conversion (purchase) without any treatment.
PURCHASE = Truth(-3.8, {
    "device": {"mobile": -0.3, "tablet": 0.2},
    "source": {"newsletter": 0.9, "google": 0.3, "facebook": -0.3},
    "depth": {"[2,4)": 0.7, "[4,6)": 1.3, ">=6": 1.9},
    "tents": {"yes": 0.8},
    "cart": {"[50.0,150.0)": 0.9, ">=150.0": 1.5},
})

#: The discount experiment: the purchase chance under the control arm (free shipping) and under the
#: treatment (a bundle discount). Deep visits and big carts buy anyway (sure things), newsletter
#: readers respond to a discount (persuadables), one-page visits without a cart rarely buy at all
#: (lost causes), and facebook visitors are put off by it (sleeping dogs).
CONTROL = Truth(-3.6, {
    "device": {"mobile": -0.2},
    "source": {"newsletter": 0.2, "google": 0.2, "facebook": 0.3},
    "depth": {"[2,4)": 0.8, "[4,6)": 1.7, ">=6": 2.9},
    "tents": {"yes": 0.5},
    "cart": {"[50.0,150.0)": 1.2, ">=150.0": 2.4},
})
TREATMENT = Truth(-3.6, {
    "device": {"mobile": -0.2},
    "source": {"newsletter": 2.0, "google": 0.6, "facebook": -0.4},
    "depth": {"[2,4)": 1.2, "[4,6)": 1.9, ">=6": 2.9},
    "tents": {"yes": 0.5},
    "cart": {"[50.0,150.0)": 1.5, ">=150.0": 2.4},
})


def kind(v: Visitor) -> str:
    """The visitor's type under the discount (by its true chances)."""
    pc, pt = CONTROL.p(v), TREATMENT.p(v)
    if pt - pc <= -0.01:
        return "sleeping dog"
    if pt - pc >= 0.05:
        return "persuadable"
    return "sure thing" if pc >= 0.2 else "lost cause"


# ---------------------------------------------------------------------- measures
def auc(scores: Sequence[float], outcomes: Sequence[bool]) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half)."""
    pairs = sorted(zip(scores, outcomes), key=lambda t: t[0])
    pos = sum(1 for o in outcomes if o)
    neg = len(outcomes) - pos
    if not pos or not neg:
        return float("nan")
    rank_sum = 0.0
    i = 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        avg_rank = (i + 1 + j) / 2  # ranks i+1..j share their mean
        rank_sum += avg_rank * sum(1 for k in range(i, j) if pairs[k][1])
        i = j
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


# ---------------------------------------------------------------------- browsing
@dataclass
class Visit:
    """What the server did during one visit."""

    cookie: str = ""
    pages: list[dict[str, Any]] = field(default_factory=list)  # each page's decide response (slots)

    def shown(self, slot: str, rule: str | None = None, variant: str | None = None) -> bool:
        return any((rule is None or p[slot]["rule"] == rule) and (variant is None or p[slot]["variant"] == variant)
                   for p in self.pages)

    def reasons(self, slot: str) -> list[str]:
        return [p[slot]["reason"] for p in self.pages]


def browse(clients: Sequence[httpx.Client], v: Visitor, cookie: str = "", slots: Iterable[str] | None = None) -> Visit:
    """Play ``v``'s visit: one ``POST /v1/decide`` per page view, the cookie carried along, the
    campaign in the first URL, each page's category, the cart total with the last page. Page ``k``
    goes to replica ``(n + k) % len(clients)``: the visit's state lives in its cookie, not in a
    replica."""
    visit = Visit(cookie=cookie)
    for k in range(v.pages):
        client = clients[(v.n + k) % len(clients)]
        url = f"/p/{k}" + (f"?utm_source={v.source}" if k == 0 and v.source else "")
        body: dict[str, Any] = {"page": {"url": url, "category": v.categories[k] if v.categories else ""}}
        if slots is not None:
            body["slots"] = list(slots)
        if k == v.pages - 1 and v.cart:
            body["signals"] = {"cart.value": v.cart}
        headers = {"User-Agent": UA[v.device]}
        if visit.cookie:
            headers["Cookie"] = f"strata_session={visit.cookie}"
        client.cookies.clear()  # the visitor's cookie is the one we carry, never the client's jar
        r = client.post("/v1/decide", json=body, headers=headers)
        r.raise_for_status()
        set_cookie = r.headers.get("set-cookie")
        if set_cookie:
            visit.cookie = set_cookie.split(";")[0].split("=", 1)[1]
        visit.pages.append(r.json()["slots"])
    return visit


def convert(client: httpx.Client, cookie: str, goal: str = "purchase", value: float = 80.0) -> None:
    client.cookies.clear()
    r = client.post("/v1/events", json={"goal": goal, "value": value}, headers={"Cookie": f"strata_session={cookie}"})
    r.raise_for_status()
