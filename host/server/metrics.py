"""Prometheus metrics at /metrics: verifications by outcome, request latency,
lockouts, throttled requests. Each app has its own registry; with --workers N each worker counts
its own requests (scrape them as one job, or run one worker per scrape target)."""

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

router = APIRouter()


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.verifications = Counter("dsc_verifications", "login steps by step (start, finish) and outcome",
                                     ["step", "outcome"], registry=self.registry)
        self.latency = Histogram("dsc_request_seconds", "time to answer a request, by route",
                                 ["route"], registry=self.registry,
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))
        self.lockouts = Counter("dsc_lockouts", "attempts refused because the user name is locked",
                                registry=self.registry)
        self.throttled = Counter("dsc_throttled", "requests refused with 429 by the per-address or per-user throttle",
                                 registry=self.registry)

    def outcome(self, step, outcome):
        self.verifications.labels(step, outcome).inc()
        if outcome == "locked":
            self.lockouts.inc()


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request):
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
