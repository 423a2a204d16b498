"""Execution on a Ray cluster: one plum-exec sandbox pool per node, work sent out in shards.

The driver (this process) keeps what a local run keeps: the results log, the progress bar and
resume. Each node runs an actor holding plum-exec's own ``Sandbox`` (that node's best isolation
and limits); a shard is a problem with its pending samples (the reference runs once per shard,
on the node that times the samples against it), or a batch of jobs (``run``, the ``Sandbox``
interface test synthesis uses). Results stream back as each finishes.

A node that dies takes only its unfinished items with it: they go out again to other nodes, and
each item is yielded once. Nothing of the caller's environment is shipped (no ``runtime_env``):
a node's workers start from the raylet's environment, and the sandbox builds each program's
environment from nothing there as it does here.

Ray's scheduler places the actors; what no library does for us is the bookkeeping that makes
a lost node cost only its unfinished items (Ray's own task retries would rerun whole shards and
duplicate rows already streamed back), so that loop is written here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import logging
import socket
from collections import Counter, deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from plum_exec.errors import PlumError
from plum_exec.records import INFRA_ERROR, Problem, Sample, SampleResult, TestOutcome
from plum_exec.sandbox.config import Job, JobResult, SandboxConfig

log = logging.getLogger("plum_exec.cluster")
INSTALL_HINT = 'pip install "plum-exec[ray]"'
IN_FLIGHT_PER_NODE = 2  # a queued shard starts the moment the node's current one ends
MAX_ATTEMPTS = 3  # a shard's items go out this often before their node losses count as infra_error
CONNECT_TIMEOUT = 10.0
ACTOR_START_TIMEOUT = 120.0  # a node's pool starting, or waiting for CPUs another job holds
JOBS_PER_SHARD = 64  # ``run``: jobs per shard (a node's pool keeps its workers busy)


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise PlumError(f"--ray needs Ray, which is not installed here: {INSTALL_HINT}") from None
    return ray


@dataclass
class NodeFacts:
    """What a node reports before any work is sent."""

    node_id: str
    ip: str
    cpus: int
    plum_exec: str | None = None  # its installed plum-exec version
    level: str = ""  # its sandbox's isolation level, with each mechanism in force
    workers: int = 0


@dataclass
class _Shard:
    items: list[Any]  # samples, or (index, job) pairs
    context: Any  # what the node needs besides the items (the problem; the evaluation config)
    attempts: int = 0
    report: Hashable | None = None  # the key of a report the shard sends besides its items


@dataclass
class _Flight:
    node_id: str
    actor: Any
    shard: _Shard


class RayCluster:
    """A connection to a Ray cluster and one sandbox actor per node (a context manager).

    ``workers``: sandbox workers per node (None: the CPUs Ray reports for each node).
    """

    def __init__(self, address: str, sandbox: SandboxConfig, workers: int | None = None):
        self.ray = import_ray()
        self.address = address
        self._owns_connection = _connect(self.ray, address)
        self.judged: Counter[str] = Counter()  # items each node finished in this run
        self.nodes: dict[str, NodeFacts] = {}
        self._actors: dict[str, Any] = {}
        try:
            self._start(sandbox, workers)
        except BaseException:
            self.close()
            raise

    # -- lifecycle ---------------------------------------------------------------------------
    def _start(self, sandbox: SandboxConfig, workers: int | None) -> None:
        nodes = _nodes_with_cpus(self.ray, self.address)
        _check_versions(self.ray, nodes)
        self._sandbox, self._restarts = sandbox, Counter[str]()
        for node in nodes:
            node.workers = workers or node.cpus
        self._await_actors({n.node_id: self._start_actor(n) for n in nodes}, nodes)

    def _start_actor(self, node: NodeFacts) -> Any:
        """The node's sandbox actor; it reserves its workers' CPUs (at most the node's)."""
        actor_class = self.ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0)(NodeSandbox)
        strategy = self.ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy
        return actor_class.options(
            num_cpus=min(node.workers, node.cpus), scheduling_strategy=strategy(node.node_id, soft=False)
        ).remote(dataclasses.replace(self._sandbox, workers=node.workers))

    def _await_actors(self, actors: dict[str, Any], nodes: list[NodeFacts]) -> None:
        ready = {actors[n.node_id].level.remote(): n for n in nodes}
        done, waiting = self.ray.wait(list(ready), num_returns=len(ready), timeout=ACTOR_START_TIMEOUT)
        for ref in done:
            node = ready[ref]
            try:
                node.level = self.ray.get(ref)
            except self.ray.exceptions.RayError as exc:
                raise PlumError(f"--ray {self.address}: node {node.ip} ({node.node_id[:12]}): its sandbox did not start: {_first_line(exc)}") from None
            self.nodes[node.node_id] = node
            self._actors[node.node_id] = actors[node.node_id]
        if waiting:
            names = ", ".join(ready[ref].ip for ref in waiting)
            raise PlumError(
                f"--ray {self.address}: no free CPU for plum-exec's sandbox within {ACTOR_START_TIMEOUT:.0f} s "
                f"on {names} (other Ray work holds them; lower --workers or free the nodes)"
            )

    def _restart(self, node_id: str) -> None:
        """An actor Ray's memory monitor killed (its node short of memory, the node alive) gets a
        fresh pool there, up to ``MAX_ATTEMPTS`` times per node."""
        alive = {n["NodeID"] for n in self.ray.nodes() if n.get("Alive")}
        self._restarts[node_id] += 1
        if node_id not in alive or self._restarts[node_id] > MAX_ATTEMPTS:
            return
        node = self.nodes[node_id]
        with contextlib.suppress(PlumError):  # not this time: the other nodes go on
            self._await_actors({node_id: self._start_actor(node)}, [node])

    @property
    def level(self) -> str:
        """The isolation level of every node (``a; b`` when nodes differ)."""
        return "; ".join(sorted({n.level for n in self.nodes.values()}))

    def describe(self) -> str:
        workers = sum(n.workers for n in self.nodes.values())
        return f"Ray cluster {self.address}: {len(self.nodes)} nodes, {workers} sandbox workers"

    def node_stats(self, what: str = "samples") -> dict[str, dict[str, Any]]:
        """Per node id: the samples (or jobs) it judged in this run, its sandbox level, its workers."""
        return {
            node_id: {what: self.judged[node_id], "ip": n.ip, "sandbox": n.level, "workers": n.workers}
            for node_id, n in sorted(self.nodes.items())
        }

    def close(self) -> None:
        for actor in self._actors.values():
            with contextlib.suppress(Exception):  # an actor already gone with its node
                self.ray.kill(actor)
        self._actors = {}
        if self._owns_connection:
            self.ray.shutdown()

    def __enter__(self) -> RayCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- work ----------------------------------------------------------------------------------
    def evaluate(
        self, shards: Sequence[tuple[Problem, list[Sample]]], config: Any
    ) -> Iterator[SampleResult | dict[str, int]]:
        """Per shard (a problem with its pending samples, maybe none): its ground-truth report
        ``{task_id: dropped tests}`` once, and one ``SampleResult`` per sample as each finishes."""
        work = [_Shard(list(samples), (problem, config), report=problem.task_id) for problem, samples in shards]
        yield from self._stream(
            work,
            "evaluate",
            item_key=lambda s: (s.task_id, s.sample_id),
            result_key=lambda r: (r.task_id, r.sample_id) if isinstance(r, SampleResult) else next(iter(r)),
            give_up=lambda shard: [_lost_sample(s, shard.context[0]) for s in shard.items],
        )

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[int, JobResult]]:
        """The ``Sandbox.run`` interface: ``(index, result)`` per job as each finishes."""
        indexed = list(enumerate(jobs))
        work = [_Shard(indexed[i : i + JOBS_PER_SHARD], None) for i in range(0, len(indexed), JOBS_PER_SHARD)]
        yield from self._stream(
            work,
            "run_jobs",
            item_key=lambda pair: pair[0],
            result_key=lambda pair: pair[0],
            give_up=lambda shard: [(i, _lost_job(job)) for i, job in shard.items],
        )

    def _stream(
        self,
        work: list[_Shard],
        method: str,
        item_key: Callable[[Any], Hashable],
        result_key: Callable[[Any], Hashable | None],
        give_up: Callable[[_Shard], list[Any]],
    ) -> Iterator[Any]:
        """Send shards to nodes (at most ``IN_FLIGHT_PER_NODE`` each) and yield what comes back,
        each key once.

        A node fault puts the shard's unfinished items back in the queue (a fresh shard, one
        attempt more); after ``MAX_ATTEMPTS`` they come back as infra errors from ``give_up``.
        """
        queue: deque[_Shard] = deque(work)
        flights: dict[Any, _Flight] = {}
        yielded: set[Hashable] = set()
        while queue or flights:
            self._send(queue, flights, method)
            if not flights:
                raise PlumError(f"--ray {self.address}: every node was lost; rerun to resume")
            ready, _ = self.ray.wait(list(flights), num_returns=1)
            for generator in ready:
                flight = flights[generator]
                try:
                    item = self.ray.get(next(generator))
                except StopIteration:
                    del flights[generator]
                    continue
                except self.ray.exceptions.RayError as exc:
                    del flights[generator]
                    self._lose(flight, exc)
                    left = _Shard(
                        [i for i in flight.shard.items if item_key(i) not in yielded],
                        flight.shard.context, flight.shard.attempts + 1, flight.shard.report,
                    )  # fmt: skip
                    if not left.items and (left.report is None or left.report in yielded):
                        continue
                    if left.attempts < MAX_ATTEMPTS:
                        queue.appendleft(left)
                        continue
                    for result in give_up(left):
                        yielded.add(result_key(result))
                        yield result
                    continue
                key = result_key(item)
                if key is not None:
                    if key in yielded:
                        continue
                    yielded.add(key)
                    self.judged[flight.node_id] += key != flight.shard.report
                yield item

    def _send(self, queue: deque[_Shard], flights: dict[Any, _Flight], method: str) -> None:
        busy = Counter(f.node_id for f in flights.values())
        for node_id, actor in list(self._actors.items()):
            while queue and busy[node_id] < IN_FLIGHT_PER_NODE:
                shard = queue.popleft()
                generator = getattr(actor, method).remote(shard.items, shard.context)
                flights[generator] = _Flight(node_id, actor, shard)
                busy[node_id] += 1

    def _lose(self, flight: _Flight, exc: Exception) -> None:
        """A shard ended unfinished. An error plum-exec raised on the node (a broken benchmark, a
        pool that cannot start) ends the run, as it would locally; a node fault drops the node's
        actor (its other shards end the same way) and starts another if the node lives."""
        if isinstance(exc, self.ray.exceptions.RayTaskError):
            cause = getattr(exc, "cause", None)
            if isinstance(cause, PlumError):
                raise PlumError(str(cause)) from None
            raise PlumError(f"--ray {self.address}: node {self.nodes[flight.node_id].ip}: {_first_line(exc)}") from None
        if self._actors.get(flight.node_id) is not flight.actor:
            return  # that actor's loss was handled with one of its other shards
        actor = self._actors.pop(flight.node_id)
        node = self.nodes[flight.node_id]
        log.warning("Ray node %s (%s): sandbox lost (%s); its unfinished work goes out again", node.ip, flight.node_id[:12], type(exc).__name__)
        with contextlib.suppress(Exception):  # gone with its node; a live one must not run on
            self.ray.kill(actor)
        if isinstance(exc, self.ray.exceptions.OutOfMemoryError):
            self._restart(flight.node_id)


class NodeSandbox:
    """The actor on each node: plum-exec's own sandbox pool, for every shard sent there."""

    def __init__(self, config: SandboxConfig):
        from plum_exec.sandbox import Sandbox

        self.sandbox = Sandbox(config)

    def level(self) -> str:
        return self.sandbox.level

    def evaluate(self, samples: list[Sample], context: tuple[Problem, Any]) -> Iterator[Any]:
        from plum_exec.evaluation import run_samples
        from plum_exec.problems.ground_truth import attach_ground_truth

        problem, config = context
        problem = attach_ground_truth({problem.task_id: problem}, self.sandbox)[problem.task_id]
        yield {problem.task_id: problem.metadata.get("dropped_tests", 0)}
        yield from run_samples({problem.task_id: problem}, samples, self.sandbox, config)

    def run_jobs(self, pairs: list[tuple[int, Job]], context: None) -> Iterator[tuple[int, JobResult]]:
        for position, result in self.sandbox.run([job for _, job in pairs]):
            yield pairs[position][0], result


def _connect(ray: Any, address: str) -> bool:
    """Join the cluster at ``address`` (never start one); True if this call made the connection."""
    if ray.is_initialized():  # the caller's own connection (Python API)
        current = ray.get_runtime_context().gcs_address
        if address not in ("auto", current):
            raise PlumError(f"--ray {address}: this process is already connected to the Ray cluster at {current}")
        return False
    found = _resolve(address)
    _check_reachable(found, address)
    _check_loopback(ray, found, address)
    try:
        ray.init(address=found, log_to_driver=False, logging_level="ERROR", configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise PlumError(f"--ray {address}: cannot connect to a Ray cluster ({_first_line(exc)})") from None
    return True


def _resolve(address: str) -> str:
    """``auto``: ``RAY_ADDRESS``, or the cluster ``ray start`` made on this machine (Ray's own rule)."""
    if address != "auto":
        return address
    from ray._private.services import canonicalize_bootstrap_address

    found = canonicalize_bootstrap_address("auto")
    if found is None:
        raise PlumError("--ray auto: no Ray cluster found (RAY_ADDRESS is unset and no `ray start` on this machine)")
    return found


def _check_reachable(address: str, given: str) -> None:
    """A plain TCP connect first: Ray itself retries an unreachable address for minutes."""
    try:
        socket.create_connection(_split(address), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise PlumError(f"--ray {given}: cannot reach the Ray cluster at {address} ({exc.strerror or exc})") from None


def _check_loopback(ray: Any, address: str, given: str) -> None:
    """Ray connects to a 127.0.0.1 address through this machine's outward address, where a
    cluster started with ``--node-ip-address 127.0.0.1`` does not listen (docs/scaling.md)."""
    host, port = _split(address)
    if not ipaddress.ip_address(socket.gethostbyname(host)).is_loopback:
        return
    outward = ray.util.get_node_ip_address()
    if outward != host:
        try:
            _check_reachable(f"{outward}:{port}", given)
        except PlumError:
            raise PlumError(
                f"--ray {given}: Ray connects to it through {outward}, where the cluster does not listen "
                "(a cluster on 127.0.0.1 only: set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 here, docs/scaling.md)"
            ) from None


def _split(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise PlumError(f"--ray {address}: expected HOST:PORT (e.g. 10.0.0.5:6379) or auto")
    return host.strip("[]"), int(port)


def _nodes_with_cpus(ray: Any, address: str) -> list[NodeFacts]:
    alive = [n for n in ray.nodes() if n.get("Alive")]
    nodes = [
        NodeFacts(n["NodeID"], n.get("NodeManagerAddress", "?"), int(n.get("Resources", {}).get("CPU", 0)))
        for n in alive
    ]
    usable = [n for n in nodes if n.cpus >= 1]
    if not usable:
        raise PlumError(f"--ray {address}: the cluster has no CPU for a sandbox worker ({len(alive)} nodes, 0 CPUs)")
    return usable


def node_facts() -> str | None:
    """Run on each node before any work: the plum-exec version installed there."""
    try:
        return metadata.version("plum-exec")
    except metadata.PackageNotFoundError:
        return None


def _check_versions(ray: Any, nodes: list[NodeFacts]) -> None:
    """Every node must run the driver's plum-exec: verdicts must not depend on the node."""
    mine = metadata.version("plum-exec")
    strategy = ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy
    probe = ray.remote(num_cpus=0, max_retries=0)(node_facts)
    refs = [probe.options(scheduling_strategy=strategy(n.node_id, soft=False)).remote() for n in nodes]
    for node, ref in zip(nodes, refs, strict=True):
        try:
            node.plum_exec = ray.get(ref, timeout=ACTOR_START_TIMEOUT)
        except ray.exceptions.RayError as exc:
            raise PlumError(
                f"Ray node {node.ip} ({node.node_id[:12]}): cannot run plum-exec there ({_first_line(exc)}); "
                f"install it on every node: {INSTALL_HINT}"
            ) from None
        if node.plum_exec != mine:
            raise PlumError(
                f"Ray node {node.ip} ({node.node_id[:12]}) has plum-exec {node.plum_exec}, this driver {mine}: "
                "install the same version on every node (docs/scaling.md)"
            )


def _lost_sample(sample: Sample, problem: Problem) -> SampleResult:
    outcome = TestOutcome(INFRA_ERROR, 0.0, f"Ray nodes were lost {MAX_ATTEMPTS} times running this sample")
    base = [outcome] * len(problem.tests)
    return SampleResult(
        task_id=sample.task_id, sample_id=sample.sample_id, base_status=INFRA_ERROR,
        plus_status=INFRA_ERROR if problem.has_plus else None,
        base_outcomes=base, plus_outcomes=[outcome] * len(problem.plus_tests),
    )  # fmt: skip


def _lost_job(job: Job) -> JobResult:
    outcome = TestOutcome(INFRA_ERROR, 0.0, f"Ray nodes were lost {MAX_ATTEMPTS} times running this job")
    return JobResult([outcome] * len(job.tests), [None] * len(job.tests))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
