"""GPU slots with leases: a killed holder loses its slot within a bounded time, and a waiting run says who holds it.

A slot is taken with a Prefect concurrency lease, and the holder publishes a lease record (a Prefect variable
tagged `plotline-slot`): its limit, flow run, stage, pid, host and an expiry that a heartbeat thread pushes
`lease_s` ahead every third of `lease_s` (renewing the Prefect lease at the same time). A run that cannot get a
slot prints the limit and the holders (once, then every `report_s`) and releases the lease of every holder whose
record expired: a live holder keeps renewing, so an expired one was killed (kill -9, a lost machine). Releasing by
lease id frees exactly that holder's slot, and is a no-op when the server has already repossessed it. Expiry times
are wall-clock times of the holder's machine.

Against plotline's embedded API (flows/embedded.py), which runs without Prefect's background services and so
without the repossessor that revokes expired leases, the waiter also reads that API's lease storage (a directory
under PREFECT_HOME, named by PLOTLINE_LEASE_DIR) and frees the two kinds of stuck slot a lease record cannot
explain: a Prefect lease that expired with no record (the holder died between taking the slot and publishing its
record), and slots taken with no live lease at all (taken outside the slot protocol, or by a server whose
in-memory leases died with it), once they have stayed so for `orphan_grace_s`.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

RECORD_TAG = "plotline-slot"
LEASE_DIR_ENV = "PLOTLINE_LEASE_DIR"
"""Environment variable set while plotline's embedded API serves: the directory of its filesystem lease storage."""
PREFECT_MIN_LEASE_S = 60.0
"""The shortest lease a Prefect server grants; the record's own expiry may be shorter."""


class SlotError(RuntimeError):
    """A GPU slot could not be taken or held (the API refused, or the limit is smaller than one slot)."""


@dataclass
class SlotHolder:
    """The lease record of one holder of a slot."""

    limit: str
    lease_id: str
    flow_run: str
    flow_run_id: str
    stage: str
    pid: int
    host: str
    expires_at: float
    """Wall-clock time (epoch seconds) after which the holder counts as dead unless it renewed."""

    @property
    def record_name(self) -> str:
        """Name of the Prefect variable holding this record."""
        return f"plotline-slot-{self.lease_id}"

    def describe(self, now: float) -> str:
        """One line naming the holder and the state of its lease."""
        left = self.expires_at - now
        state = (
            f"lease renewed, expires in {left:.0f} s"
            if left >= 0
            else f"no renewal for {-left:.0f} s past expiry: presumed dead"
        )
        return (
            f"flow run {self.flow_run} ({self.flow_run_id}), stage {self.stage}, pid {self.pid} on {self.host} "
            f"({state})"
        )


QUICK_RETRY_S = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8)
"""Pauses between attempts of a slot call the API answered with 503; after them the client's own retries apply."""


def _locked(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None) == 423


def quick_request(client, method: str, path: str, json: dict | None = None):
    """One call of the slot protocol on `client` (a sync Prefect client), retried after 20, 50, 100, … ms while the
    API answers 503, then through the client's own request (whose retries pause 2 s, 4 s, …).

    The embedded SQLite API answers 503 when a write transaction met a concurrent commit (SQLITE_BUSY_SNAPSHOT):
    a slot taken at a task's start often meets the server recording that task's state (4 of 5 GPU stages in one
    measured pass), and the client's own retry would then pause 2 s. Nothing was written on a 503, so trying again
    at once is safe. A 403 (CSRF protection) or a transport error goes to the client's request, which handles
    them. Raises httpx.HTTPStatusError for other errors.
    """
    http = getattr(client, "_client", None)
    if http is not None:
        import httpx

        for pause in QUICK_RETRY_S:
            try:
                response = httpx.Client.send(http, http.build_request(method, path, json=json))
            except httpx.TransportError:
                break  # connection trouble: the client's own retries handle it
            if response.status_code == 403:
                break  # e.g. CSRF protection: the client's request adds its token
            if response.status_code != 503:
                response.raise_for_status()
                return response
            time.sleep(pause)
    return client.request(method, path, json=json)


def read_holders(client, limit: str) -> list[SlotHolder]:
    """Every lease record of `limit` (live or expired)."""
    from prefect.client.schemas.objects import Variable

    response = client.request(
        "POST", "/variables/filter", json={"variables": {"tags": {"all_": [RECORD_TAG]}}, "limit": 200}
    )
    out = []
    for var in Variable.model_validate_list(response.json()):
        value = var.value if isinstance(var.value, dict) else {}
        if value.get("limit") != limit:
            continue
        try:
            out.append(SlotHolder(**value))
        except TypeError:
            continue  # a record of another plotline version: not ours to interpret
    return out


def _write_record(client, holder: SlotHolder, create: bool) -> None:
    from prefect.client.schemas.actions import VariableCreate, VariableUpdate

    value = asdict(holder)
    if create:
        body = VariableCreate(name=holder.record_name, value=value, tags=[RECORD_TAG, holder.limit])
        quick_request(client, "POST", "/variables/", json=body.model_dump(mode="json"))
    else:
        client.update_variable(VariableUpdate(name=holder.record_name, value=value))


def _take(client, limit: str, lease_s: float):
    """Ask for one slot of `limit` under a lease of `lease_s` (raises with status 423 while the limit is full)."""
    body = {"names": [limit], "slots": 1, "mode": "concurrency", "lease_duration": lease_s}
    return quick_request(client, "POST", "/v2/concurrency_limits/increment-with-lease", json=body)


def _release(client, lease_id: str) -> None:
    """Give back the slot held under `lease_id` (a no-op when the server already released it)."""
    quick_request(client, "POST", "/v2/concurrency_limits/decrement-with-lease", json={"lease_id": lease_id})


def _delete_record(client, holder: SlotHolder) -> None:
    with contextlib.suppress(Exception):  # another waiter may have deleted it first
        quick_request(client, "DELETE", f"/variables/name/{holder.record_name}")


def release_dead(client, holders: list[SlotHolder], now: float, log: Callable[[str], None]) -> list[SlotHolder]:
    """Release the lease of every holder whose record expired and delete the record; returns those released."""
    released = []
    for h in holders:
        if h.expires_at >= now:
            continue
        _release(client, h.lease_id)  # a no-op if already released
        _delete_record(client, h)
        log(f"released the slot of GPU limit {h.limit!r} held by {h.describe(now)}")
        released.append(h)
    return released


@dataclass(frozen=True)
class PrefectLease:
    """One Prefect concurrency lease on a limit, as its server's filesystem lease storage holds it."""

    lease_id: str
    expires_at: float
    """Wall-clock expiry (epoch seconds) of the Prefect lease."""
    slots: int


def read_leases(lease_dir: Path, limit_id: str) -> list[PrefectLease]:
    """The Prefect leases on the limit with id `limit_id` in the filesystem lease storage at `lease_dir` (Prefect
    3.8's layout: one `<lease id>.json` per lease with its resource ids, ISO expiration and slots); files being
    written or removed while read are skipped."""
    out = []
    for path in sorted(lease_dir.glob("*.json")):
        if path.name == "expirations.json":
            continue
        try:
            data = json.loads(path.read_text())
            if limit_id not in data.get("resource_ids", []):
                continue
            slots = int((data.get("metadata") or {}).get("slots", 1))
            out.append(PrefectLease(str(data["id"]), datetime.fromisoformat(data["expiration"]).timestamp(), slots))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # removed or replaced while we read it: the next poll sees the new state
    return out


@dataclass
class OrphanWatch:
    """How long the limit has shown slots that neither a live Prefect lease nor a live lease record accounts for,
    and the fewest such slots seen over that time (only those are freed)."""

    since: float | None = None
    fewest: int = 0

    def observe(self, orphans: int, at: float) -> float:
        """Record `orphans` unaccounted slots at monotonic time `at`; returns how long there have been some."""
        if orphans <= 0:
            self.since, self.fewest = None, 0
            return 0.0
        if self.since is None:
            self.since, self.fewest = at, orphans
        self.fewest = min(self.fewest, orphans)
        return at - self.since


def reclaim_unleased(
    client,
    limit: str,
    lease_dir: Path,
    holders: list[SlotHolder],
    now: float,
    watch: OrphanWatch,
    grace_s: float,
    log: Callable[[str], None],
) -> bool:
    """Free slots of `limit` that no live holder explains, reading the server's lease storage at `lease_dir`:
    release every expired Prefect lease with no live record, and once slots without any live lease or record have
    stayed so for `grace_s`, decrement the limit by their fewest count. Returns whether anything was freed."""
    gcl = client.read_global_concurrency_limit_by_name(limit)
    leases = read_leases(lease_dir, str(gcl.id))
    live_records = {h.lease_id for h in holders if h.expires_at >= now}
    freed = False
    for lease in leases:
        if lease.expires_at >= now or lease.lease_id in live_records:
            continue
        _release(client, lease.lease_id)
        log(
            f"released the slot of GPU limit {limit!r} held by Prefect lease {lease.lease_id}, expired "
            f"{now - lease.expires_at:.0f} s ago with no plotline lease record (its holder died before publishing one)"
        )
        freed = True
    if freed:
        watch.observe(0, time.monotonic())
        return True
    live_leases = {lease.lease_id: lease.slots for lease in leases if lease.expires_at >= now}
    accounted = sum(live_leases.values()) + len(live_records - live_leases.keys())
    orphans = gcl.active_slots - accounted
    held_for = watch.observe(orphans, time.monotonic())
    if orphans <= 0 or held_for < grace_s:
        return False
    count = watch.fewest
    quick_request(client, "POST", "/v2/concurrency_limits/decrement", json={"names": [limit], "slots": count})
    log(
        f"freed {count} slot(s) of GPU limit {limit!r} that stayed taken for {held_for:.0f} s with neither a live "
        "Prefect lease nor a plotline lease record (taken outside the slot protocol, or by a server whose leases "
        "were lost)"
    )
    watch.observe(0, time.monotonic())
    return True


def wait_message(
    limit: str, active: int | None, size: int | None, holders: list[SlotHolder], now: float, waited_s: float
) -> str:
    """The line a waiting run prints: the limit, its occupancy and every holder."""
    held = f"{active}/{size} slot(s) taken" if active is not None else "slots taken"
    who = "; ".join(h.describe(now) for h in holders) or (
        "no plotline lease record (taken outside plotline or before slot leases); free it in the UI or with "
        f"`prefect gcl update {limit} --active-slots 0`"
    )
    return f"waiting for a slot of GPU limit {limit!r} ({held}, waited {waited_s:.0f} s): held by {who}"


class _Heartbeat(threading.Thread):
    """Renews the Prefect lease and pushes the record's expiry forward until stopped."""

    def __init__(self, holder: SlotHolder, lease_s: float, prefect_lease_s: float, log: Callable[[str], None]):
        super().__init__(name=f"slot-lease-{holder.stage}", daemon=True)
        self.holder, self.lease_s, self.prefect_lease_s, self.log = holder, lease_s, prefect_lease_s, log
        self.stop = threading.Event()
        self._context = contextvars.copy_context()  # the holder's Prefect settings (API URL) in this thread too

    def run(self) -> None:
        self._context.run(self._beat)

    def _beat(self) -> None:
        from prefect.client.orchestration import get_client

        interval = min(self.lease_s, self.prefect_lease_s) / 3
        with get_client(sync_client=True) as client:
            while not self.stop.wait(interval):
                try:
                    client.renew_concurrency_lease(uuid.UUID(self.holder.lease_id), self.prefect_lease_s)
                    self.holder.expires_at = time.time() + self.lease_s
                    _write_record(client, self.holder, create=False)
                except Exception as exc:  # noqa: BLE001 - transient API errors: the next beat tries again
                    self.log(f"slot lease of {self.holder.stage}: renewal failed ({type(exc).__name__}: {exc})")


def _flow_run() -> tuple[str, str]:
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return "none", ""
    return ctx.flow_run.name, str(ctx.flow_run.id)


@contextlib.contextmanager
def leased_slot(
    limit: str,
    stage: str,
    *,
    lease_s: float,
    poll_s: float,
    report_s: float,
    orphan_grace_s: float = 30.0,
    log: Callable[[str], None] = print,
    info: Callable[[str], None] | None = None,
) -> Iterator[SlotHolder]:
    """Hold one slot of the global concurrency limit `limit` for the block, under a lease renewed every
    `lease_s / 3`; while the limit is full, report the holders every `report_s` and release dead ones every
    `poll_s` (against the embedded API also slots no live lease explains, after `orphan_grace_s`). Waits, releases
    and renewal failures go to `log`; a slot taken without waiting goes to `info` (default `log`)."""
    from prefect.client.orchestration import get_client

    prefect_lease_s = max(PREFECT_MIN_LEASE_S, lease_s)
    flow_run, flow_run_id = _flow_run()
    started, next_report = time.monotonic(), 0.0
    lease_dir = Path(os.environ[LEASE_DIR_ENV]) if os.environ.get(LEASE_DIR_ENV) else None
    watch = OrphanWatch()
    with get_client(sync_client=True) as client:
        while True:
            try:
                response = _take(client, limit, prefect_lease_s)
                break
            except Exception as exc:
                if not _locked(exc):
                    raise SlotError(
                        f"could not take a slot of GPU limit {limit!r}: {type(exc).__name__}: {exc}"
                    ) from exc
            now = time.time()
            holders = read_holders(client, limit)
            if time.monotonic() >= next_report:
                try:
                    gcl = client.read_global_concurrency_limit_by_name(limit)
                    active, size = gcl.active_slots, gcl.limit
                except Exception:  # noqa: BLE001 - the report is best effort
                    active = size = None
                log(wait_message(limit, active, size, holders, now, time.monotonic() - started))
                next_report = time.monotonic() + report_s
            if release_dead(client, holders, now, log):
                continue
            if lease_dir is not None:
                try:
                    if reclaim_unleased(client, limit, lease_dir, holders, now, watch, orphan_grace_s, log):
                        continue
                except Exception as exc:  # noqa: BLE001 - reclaiming is best effort; the wait goes on
                    log(f"could not check the leases of GPU limit {limit!r}: {type(exc).__name__}: {exc}")
            time.sleep(poll_s)
        lease_id = response.json().get("lease_id")
        if lease_id is None:
            raise SlotError(f"the Prefect API granted a slot of {limit!r} without a lease id: {response.text[:200]}")
        holder = SlotHolder(
            limit=limit,
            lease_id=str(lease_id),
            flow_run=flow_run,
            flow_run_id=flow_run_id,
            stage=stage,
            pid=os.getpid(),
            host=socket.gethostname(),
            expires_at=time.time() + lease_s,
        )
        try:
            _write_record(client, holder, create=True)
        except BaseException:
            _release(client, holder.lease_id)
            raise
    waited = time.monotonic() - started
    (log if waited >= 1 or info is None else info)(
        f"{stage}: took a slot of GPU limit {limit!r} (lease {holder.lease_id}, {lease_s:g} s, renewed every "
        f"{min(lease_s, prefect_lease_s) / 3:g} s)" + (f" after waiting {waited:.0f} s" if waited >= 1 else "")
    )
    beat = _Heartbeat(holder, lease_s, prefect_lease_s, log)
    beat.start()
    try:
        yield holder
    finally:
        beat.stop.set()
        beat.join(timeout=10)
        with get_client(sync_client=True) as client:
            _release(client, holder.lease_id)
            _delete_record(client, holder)
