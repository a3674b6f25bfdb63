"""Locust traffic mix for the edge server (bounded runs only).

    strata serve rulesets/trailblazer.yaml --pages rulesets/trailblazer/site --port 8080 &
    locust -f benchmarks/locustfile.py --headless -H http://127.0.0.1:8080 -u 50 -r 10 -t 60s --csv benchmarks/results/locust

The mix, per simulated visitor (each keeps its own cookie jar, so sessions are real):
- new visitors browsing pages (page mode) and asking /v1/decide for the hero;
- returning tent browsers (category pages, then the product page);
- cart abandoners sending cart signals, some converting (POST /v1/events purchase);
- newsletter arrivals with UTM parameters;
- visitors without consent (Sec-GPC: 1), who must never get a cookie.
Failures: any non-2xx, a decide response without the requested slots, or a cookie set for a GPC
visitor. ``STRATA_LOCUST_PAGES=0`` leaves out page mode (for a server run without --pages).
"""

from __future__ import annotations

import os
import random

from locust import FastHttpUser, between, task

PAGES = os.environ.get("STRATA_LOCUST_PAGES", "1") == "1"
SLOTS = ["hero", "banner", "offer", "recs"]
TENT = {"sku": "TB-SUMMIT2", "name": "Summit 2", "category": "tents", "price": 249.0, "quantity": 1}
UAS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15",
]


class Visitor(FastHttpUser):
    abstract = True  # the visitor kinds below are the users
    wait_time = between(0.05, 0.3)
    gpc = False

    def on_start(self) -> None:
        self.headers = {"User-Agent": random.choice(UAS), "CF-IPCountry": random.choice(["US", "US", "DE", "CA"])}
        if self.gpc:
            self.headers["Sec-GPC"] = "1"

    def decide(self, url: str, signals: dict | None = None, name: str = "/v1/decide") -> None:
        body = {"page": {"url": url}, "slots": SLOTS}
        if signals:
            body["signals"] = signals
        with self.client.post("/v1/decide", json=body, headers=self.headers, name=name, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"status {r.status_code}")
            elif set(r.json().get("slots", {})) != set(SLOTS):
                r.failure("missing slots")
            elif self.gpc and r.headers.get("set-cookie", "").startswith("strata_session=s1"):
                r.failure("cookie set without consent")
            else:
                r.success()

    def page(self, path: str) -> None:
        if not PAGES:
            self.decide(path)
            return
        with self.client.get(path, headers=self.headers, name="page " + path.split("?")[0], catch_response=True) as r:
            if r.status_code != 200 or "data-strata-slot" not in r.text:
                r.failure(f"status {r.status_code}")
            elif self.gpc and "strata_session=s1" in r.headers.get("set-cookie", ""):
                r.failure("cookie set without consent")
            else:
                r.success()


class NewVisitor(Visitor):
    weight = 4

    @task
    def browse(self) -> None:
        self.page("/")
        self.decide("/")
        self.page("/tents.html")


class TentBrowser(Visitor):
    weight = 3

    @task
    def browse(self) -> None:
        self.page("/tents.html")
        self.page("/product.html")
        self.decide("/product.html")


class CartAbandoner(Visitor):
    weight = 2

    @task
    def cart(self) -> None:
        self.page("/product.html")
        self.decide("/cart.html", {"cart.items": [TENT], "cart.value": 249.0})
        if random.random() < 0.1:
            self.client.post("/v1/events", json={"goal": "purchase", "value": 249.0}, headers=self.headers, name="/v1/events")


class NewsletterArrival(Visitor):
    weight = 1

    @task
    def land(self) -> None:
        self.page("/?utm_source=newsletter&utm_medium=email&utm_campaign=spring")
        self.decide("/?utm_source=newsletter&utm_medium=email")


class NoConsentVisitor(Visitor):
    weight = 2
    gpc = True

    @task
    def browse(self) -> None:
        self.page("/")
        self.decide("/tents.html", {"cart.items": [TENT]})
