#!/usr/bin/env python3
"""Gateway benchmark: the simulator called directly, nginx proxy_pass, Portkey and the LlmSecOps gateway, side by side.

Started by bench/gateway/run.sh (which checks prerequisites). Everything listens on 127.0.0.1 and sends traffic only
there. Each peer forwards to the same simulator (tests/LlmSecOps.Simulator, request log off). Per round and per peer:
  - throughput: wrk, one thread, C keep-alive connections, non-streaming chat, fixed time -> requests/s;
  - latency at concurrency 1: the probe (bench/LlmSecOps.Gateway.Bench), one keep-alive connection, non-streaming
    chat -> p50/p99 of the full response time;
  - time to first token: the probe, streaming chat (SSE) with the simulator paced at 1,000 tokens/s -> p50/p99 of
    the time from sending the request to the first `data:` line carrying a content token.
Peers alternate within every round (A B C D, then A B C D ...); the report gives medians over rounds, added latency
as the median over rounds of (peer - direct) and throughput ratios as the median over rounds of per-round ratios.
Figures are printed, written to docs/benchmarks/gateway.md, and never asserted.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
MODEL = "llama3.2:1b"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Say hello to the benchmark."}], "max_tokens": 16}
STREAM_BODY = {**BODY, "max_tokens": 8, "stream": True}
STREAM_TOKENS_PER_SECOND = 1000
NOT_AVAILABLE = "gateway: not measured (data plane not available)"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def http(method: str, url: str, body: object | None = None, headers: dict[str, str] | None = None,
         timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={**(headers or {})})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers.items()), e.read()


def wait_http(url: str, seconds: float, process: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            status, _, _ = http("GET", url, timeout=2)
            if status < 500:
                return True
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.3)
    return False


@dataclass
class Peer:
    name: str
    url: str  # the chat completions URL
    headers: dict[str, str] = field(default_factory=dict)
    note: str = ""


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="llmsecops-gwbench-"))
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.pg_data: Path | None = None
        self.pg_bin: Path | None = None
        # Pinning helps on a quiet machine (the client cannot steal the server's core). On a machine loaded by other
        # work it hurts: every hop of a proxied request then waits for a turn on the one contended server core, which
        # charges the proxies for foreign load. So "auto" pins only when the 1-minute load average is below nproc.
        cpus = os.cpu_count() or 1
        self.load_at_start = float(loadavg().split()[0])
        if args.pin == "auto":
            pin = self.load_at_start < cpus
            self.pin_reason = (f"auto: 1-minute load average {self.load_at_start:.1f} "
                               f"{'<' if pin else '>='} nproc {cpus}")
        else:
            pin = args.pin == "on"
            self.pin_reason = f"--pin {args.pin}"
        pin = pin and shutil.which("taskset") is not None and cpus >= 2
        self.server_cpu = args.server_cpu if pin else None
        self.client_cpu = args.client_cpu if pin else None
        self.gateway_status = NOT_AVAILABLE
        self.gateway_evidence: list[str] = []
        self.versions: dict[str, str] = {}
        self.warmup_notes: list[str] = []

    # --- processes ----------------------------------------------------------------------------------------------
    def pinned(self, argv: list[str], cpu: str | None) -> list[str]:
        return ["taskset", "-c", cpu, *argv] if cpu is not None else argv

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen:
        out = open(self.work / f"{name}.log", "wb")  # noqa: SIM115 (kept open for the process's lifetime)
        process = subprocess.Popen(self.pinned(argv, self.server_cpu), stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True)
        self.processes.append((name, process))
        return process

    def tail(self, name: str, lines: int = 15) -> str:
        path = self.work / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop_all(self) -> None:
        for _, process in reversed(self.processes):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for _, process in reversed(self.processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()
        if self.pg_data is not None and (self.pg_data / "postmaster.pid").exists():
            self.as_postgres([str(self.pg_bin / "pg_ctl"), "-D", str(self.pg_data), "-m", "immediate", "-w", "stop"])
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            log(f"logs kept in {self.work}")

    # --- build --------------------------------------------------------------------------------------------------
    def build(self, project: str) -> bool:
        if self.args.skip_build:
            return True
        log(f"building {project} (Release)")
        result = subprocess.run(["dotnet", "build", "-c", "Release", project, "-nologo", "-clp:ErrorsOnly"],
                                cwd=ROOT, capture_output=True, text=True)
        if result.returncode != 0:
            (self.work / f"build-{Path(project).name}.log").write_text(result.stdout + result.stderr)
            log(f"build of {project} failed:\n" + "\n".join((result.stdout + result.stderr).splitlines()[-15:]))
        return result.returncode == 0

    @staticmethod
    def dll(project: str, name: str) -> Path:
        return ROOT / project / "bin" / "Release" / "net10.0" / f"{name}.dll"

    # --- peers --------------------------------------------------------------------------------------------------
    def start_simulator(self) -> str:
        port = free_port()
        process = self.start("simulator", ["dotnet", str(self.dll("tests/LlmSecOps.Simulator", "LlmSecOps.Simulator")),
                                           "--urls", f"http://127.0.0.1:{port}", "--Simulator:RequestLogCapacity=0"],
                             # The simulator stands in for a model server that would not share these cores: workstation GC
                             # and no thread-pool spinning, so its idle spinning between requests is not charged to
                             # whichever peer sends requests with gaps (the same settings for every peer).
                             env={"Logging__LogLevel__Default": "Warning", "DOTNET_TieredPGO": "1", "DOTNET_gcServer": "0",
                                  "DOTNET_ThreadPool_UnfairSemaphoreSpinLimit": "0"})
        base = f"http://127.0.0.1:{port}"
        if not wait_http(f"{base}/api/version", 90, process):
            raise SystemExit("the simulator did not start:\n" + self.tail("simulator"))
        self.sim_base = base
        return base

    def start_nginx(self, upstream_port: int) -> Peer:
        port = free_port()
        conf_dir = self.work / "nginx"
        conf_dir.mkdir()
        conf = conf_dir / "nginx.conf"
        conf.write_text((HERE / "nginx.conf.template").read_text()
                        .replace("@DIR@", str(conf_dir)).replace("@PORT@", str(port))
                        .replace("@UPSTREAM_PORT@", str(upstream_port)))
        process = self.start("nginx", ["nginx", "-p", str(conf_dir), "-c", str(conf), "-e", str(conf_dir / "error.log")])
        if not wait_http(f"http://127.0.0.1:{port}/api/version", 20, process):
            raise SystemExit("nginx did not start:\n" + self.tail("nginx") + (conf_dir / "error.log").read_text(errors="replace"))
        return Peer("nginx", f"http://127.0.0.1:{port}/v1/chat/completions",
                    note="nginx proxy_pass, worker_processes 1, keepalive upstream, proxy_buffering off")

    def start_portkey(self, upstream_port: int) -> Peer:
        folder = HERE / "portkey"
        server = folder / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
        if not server.exists():
            log("installing Portkey from bench/gateway/portkey/package-lock.json (npm ci)")
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=folder, check=True)
        self.versions["portkey"] = json.loads((folder / "node_modules" / "@portkey-ai" / "gateway" / "package.json").read_text())["version"]
        port = free_port()
        process = self.start("portkey", ["node", str(server), f"--port={port}", "--headless"],
                             env={"NODE_ENV": "production"}, cwd=folder)
        if not wait_http(f"http://127.0.0.1:{port}/", 60, process):
            raise SystemExit("Portkey did not start:\n" + self.tail("portkey"))
        return Peer("portkey", f"http://127.0.0.1:{port}/v1/chat/completions",
                    {"x-portkey-provider": "openai", "x-portkey-custom-host": f"http://127.0.0.1:{upstream_port}/v1",
                     "Authorization": "Bearer unused"},
                    note="@portkey-ai/gateway, proxy only (no inbound auth)")

    def as_postgres(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, capture_output=True, text=True, **kwargs)

    def gateway_unavailable(self, why: str) -> None:
        self.gateway_status = f"gateway: not measured ({why})"
        return None

    def start_gateway(self, upstream: str) -> Peer | None:
        dll = self.dll("services/LlmSecOps.Gateway", "LlmSecOps.Gateway")
        if not self.build("services/LlmSecOps.Gateway") or not dll.exists():
            self.gateway_status = "gateway: not measured (its Release build failed)"
            return None
        # Postgres: a throw-away cluster (fsync off: request records are written in batches off the request path).
        candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not candidates or shutil.which("redis-server") is None:
            self.gateway_status = "gateway: not measured (PostgreSQL or redis-server missing)"
            return None
        self.pg_bin = candidates[-1].parent
        pg_root = self.work / "pg"
        pg_root.mkdir()
        self.pg_data = pg_root / "data"
        if os.geteuid() == 0:
            self.work.chmod(0o755)
            shutil.chown(pg_root, "postgres", "postgres")
        result = self.as_postgres([str(self.pg_bin / "initdb"), "-D", str(self.pg_data), "-U", "postgres", "--auth=trust",
                                   "-E", "UTF8", "--locale=C"])
        if result.returncode != 0:
            return self.gateway_unavailable("initdb failed: " + result.stderr.strip()[-300:])
        pg_port = free_port()
        result = self.as_postgres([str(self.pg_bin / "pg_ctl"), "-D", str(self.pg_data), "-l", str(pg_root / "server.log"), "-w", "start",
                                   "-o", f"-p {pg_port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={pg_root} "
                                         "-c fsync=off -c synchronous_commit=off"])
        if result.returncode != 0:
            return self.gateway_unavailable("PostgreSQL did not start: " + (result.stderr + (pg_root / "server.log").read_text(errors="replace")).strip()[-300:])
        if self.server_cpu is not None:
            pid = (self.pg_data / "postmaster.pid").read_text().split()[0]
            subprocess.run(["taskset", "-a", "-p", "-c", self.server_cpu, pid], capture_output=True)
        redis_port = free_port()
        redis_password = secrets.token_hex(16)
        redis = self.start("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                     "--appendonly", "no", "--requirepass", redis_password, "--daemonize", "no"])
        self.redis_cli = ["redis-cli", "-h", "127.0.0.1", "-p", str(redis_port), "--no-auth-warning", "-a", redis_password]
        deadline = time.monotonic() + 20
        while subprocess.run([*self.redis_cli, "PING"], capture_output=True, text=True).stdout.strip() != "PONG":
            if time.monotonic() > deadline or redis.poll() is not None:
                return self.gateway_unavailable("redis-server did not start: " + self.tail("redis", 3))
            time.sleep(0.2)

        data_port, admin_port = free_port(), free_port()
        admin_token = "lsoadm_" + secrets.token_hex(20)
        env = {
            "ConnectionStrings__llmsecops": f"Host=127.0.0.1;Port={pg_port};Database=postgres;Username=postgres",
            "ConnectionStrings__redis": f"127.0.0.1:{redis_port},password={redis_password}",
            "ConnectionStrings__ollama": f"Endpoint={upstream}",
            "Keys__Pepper": secrets.token_hex(32),
            "ControlPlane__BootstrapAdminToken": admin_token,
            "Listeners__Data__Port": str(data_port),
            "Listeners__Data__Address": "127.0.0.1",
            "Listeners__Admin__Port": str(admin_port),
            "Listeners__Admin__Address": "127.0.0.1",
            "Audit__CheckpointPath": str(self.work / "audit-checkpoints.jsonl"),
            "Logging__LogLevel__Default": "Warning",
            "ASPNETCORE_ENVIRONMENT": "Production",
        }
        process = self.start("gateway", ["dotnet", str(dll)], env=env, cwd=self.work)
        admin = f"http://127.0.0.1:{admin_port}"
        if not wait_http(f"{admin}/health/ready", 120, process):
            self.gateway_status = "gateway: not measured (it did not become ready; see its log)"
            log("gateway did not become ready:\n" + self.tail("gateway"))
            return None

        auth = {"Authorization": f"Bearer {admin_token}"}
        self.admin_base, self.admin_auth = admin, auth

        def admin_call(method: str, path: str, body: object | None = None) -> dict:
            status, _, payload = http(method, admin + path, body, auth)
            if status >= 300:
                raise RuntimeError(f"{method} {path} -> HTTP {status}: {payload[:300]!r}")
            return json.loads(payload) if payload else {}

        # Approve the simulator's model pinned to its digest; a tier, tenant and key with limits and budgets high
        # enough not to refuse during the run (they are still checked and reserved on every request).
        _, _, tags = http("GET", f"{upstream}/api/tags")
        digest = next(m["digest"] for m in json.loads(tags)["models"] if m["name"] == MODEL)
        digest = digest if digest.startswith("sha256:") else f"sha256:{digest}"
        try:
            admin_call("PUT", f"/admin/models/{MODEL}", {"digest": digest})
            admin_call("PUT", "/admin/tiers/bench", {"allowedModels": ["*"], "defaultMaxTokens": 256, "maxMaxTokens": 4096,
                                                     "requestsPerMinute": 100_000_000, "tokensPerMinute": 100_000_000,
                                                     "concurrency": 100_000})
            tenant = admin_call("POST", "/admin/tenants", {"name": "bench", "tier": "bench"})
            self.tenant_id = tenant["id"]
            budget = {"dailyTokens": 10**13, "monthlyTokens": 10**14}
            admin_call("PUT", f"/admin/tenants/{tenant['id']}/budget", budget)
            key = admin_call("POST", f"/admin/tenants/{tenant['id']}/keys", {"name": "bench"})
            admin_call("PUT", f"/admin/keys/{key['id']}/budget", budget)
        except RuntimeError as e:
            self.gateway_status = f"gateway: not measured (admin set-up failed: {e})"
            return None

        peer = Peer("gateway", f"http://127.0.0.1:{data_port}/v1/chat/completions", {"Authorization": f"Bearer {key['key']}"},
                    note="LlmSecOps gateway: key auth, Redis limits, budget reservation, events")
        status, headers, payload = http("POST", peer.url, BODY, peer.headers)
        if status == 404 or status == 405:
            self.gateway_status = f"{NOT_AVAILABLE}: POST /v1/chat/completions answered HTTP {status}"
            return None
        if status != 200 or b"choices" not in payload:
            self.gateway_status = f"gateway: not measured (POST /v1/chat/completions answered HTTP {status}: {payload[:200]!r})"
            return None
        limits = sorted(h.lower() for h in headers if h.lower().startswith("x-ratelimit"))
        self.gateway_evidence.append("response headers: " + (", ".join(limits) if limits else "no x-ratelimit-* headers"))
        self.gateway_status = "gateway: measured"
        return peer

    def events_written(self) -> str:
        if not hasattr(self, "redis_cli"):
            return ""
        result = subprocess.run([*self.redis_cli, "XLEN", "llmsecops:events"], capture_output=True, text=True)
        return result.stdout.strip()

    # --- measurements -------------------------------------------------------------------------------------------
    def wrk(self, peer: Peer, seconds: float, connections: int) -> dict:
        env = {**os.environ, "BENCH_BODY_FILE": str(self.work / "body.json"),
               "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in peer.headers.items())}
        argv = self.pinned(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
                            "-s", str(HERE / "wrk-post.lua"), peer.url], self.client_cpu)
        groups = self.server_side(peer)
        before = {name: cpu_seconds(pids) for name, pids in groups.items()}
        result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=seconds + 60)
        after = {name: cpu_seconds(pids) for name, pids in groups.items()}
        line = next((l for l in result.stdout.splitlines() if l.startswith("WRKJSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk against {peer.name} printed no result: {result.stdout[-500:]} {result.stderr[-500:]}")
        out = json.loads(line[len("WRKJSON "):])
        # CPU time per request of each server-side process group (user + system, from /proc): unlike req/s it hardly
        # depends on what else the machine is doing, so it is the figure to compare on a busy machine.
        n = max(1, out["requests"])
        out["cpu_us"] = {name: (after[name] - before[name]) * 1e6 / n for name in groups}
        return out

    def server_side(self, peer: Peer) -> dict[str, set[int]]:
        """The processes serving a peer's requests: the proxy (with its helpers) and the simulator behind it."""
        by_name = {name: process.pid for name, process in self.processes}
        names = {"direct": [], "nginx": ["nginx"], "portkey": ["portkey"], "gateway": ["gateway", "redis"]}[peer.name]
        groups = {name: process_tree(by_name[name]) for name in names if name in by_name}
        if peer.name == "gateway" and self.pg_data is not None and (self.pg_data / "postmaster.pid").exists():
            groups["postgres"] = process_tree(int((self.pg_data / "postmaster.pid").read_text().split()[0]))
        groups["simulator"] = process_tree(by_name["simulator"])
        return groups

    def probe(self, peer: Peer, seconds: float, stream: bool, warmup: float = 0.5) -> dict:
        argv = ["dotnet", str(self.dll("bench/LlmSecOps.Gateway.Bench", "LlmSecOps.Gateway.Bench")),
                "--url", peer.url, "--body-file", str(self.work / ("stream.json" if stream else "body.json")),
                "--duration", str(seconds), "--warmup", str(warmup)]
        for k, v in peer.headers.items():
            argv += ["--header", f"{k}: {v}"]
        if stream:
            argv.append("--stream")
        result = subprocess.run(self.pinned(argv, self.client_cpu), capture_output=True, text=True, timeout=seconds + 120)
        try:
            return json.loads(result.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            raise RuntimeError(f"probe against {peer.name} failed: {result.stdout[-300:]} {result.stderr[-300:]}") from None

    def pace_simulator(self, tokens_per_second: int) -> None:
        status, _, payload = http("PUT", f"{self.sim_base}/_sim/switches", {"tokensPerSecond": tokens_per_second})
        if status != 200:
            raise RuntimeError(f"simulator switches: HTTP {status} {payload!r}")

    # --- the run ------------------------------------------------------------------------------------------------
    def run(self) -> int:
        a = self.args
        started = datetime.datetime.now(datetime.timezone.utc)
        load_before = loadavg()
        for tool in ("wrk", "nginx", "node", "dotnet"):
            if shutil.which(tool) is None:
                raise SystemExit(f"{tool} is missing (run bench/gateway/run.sh, which installs what is missing)")
        for project in ("tests/LlmSecOps.Simulator", "bench/LlmSecOps.Gateway.Bench"):
            if not self.build(project):
                raise SystemExit(f"build of {project} failed")
        (self.work / "body.json").write_text(json.dumps(BODY))
        (self.work / "stream.json").write_text(json.dumps(STREAM_BODY))
        self.versions.update(self.tool_versions())

        upstream = self.start_simulator()
        sim_port = int(upstream.rsplit(":", 1)[1])
        wanted = set(a.peers.split(","))
        peers = [Peer("direct", f"{upstream}/v1/chat/completions", note="the simulator, no proxy")]
        if "nginx" in wanted:
            peers.append(self.start_nginx(sim_port))
        if "portkey" in wanted:
            peers.append(self.start_portkey(sim_port))
        if a.no_gateway or "gateway" not in wanted:
            self.gateway_status = "gateway: not measured (--no-gateway)"
        else:
            gateway = self.start_gateway(upstream)
            if gateway is not None:
                peers.append(gateway)
        log(self.gateway_status)

        # Sanity: every peer answers 200 with a completion, streaming and not.
        for peer in peers:
            status, _, payload = http("POST", peer.url, BODY, peer.headers)
            if status != 200 or b"choices" not in payload:
                raise SystemExit(f"{peer.name} answered HTTP {status}: {payload[:300]!r}")

        log(f"peers: {', '.join(p.name for p in peers)}; server cpu {self.server_cpu}, client cpu {self.client_cpu} ({self.pin_reason}); "
            f"{a.rounds} rounds; load average {load_before}")
        log("warm-up")
        for peer in peers:
            warm = self.wrk(peer, a.warmup, a.connections)
            if warm["non2xx"] or warm["socket_errors"]:
                self.warmup_notes.append(f"- {peer.name}: warm-up had {warm['non2xx']} non-2xx responses and {warm['socket_errors']} socket errors")
        self.pace_simulator(STREAM_TOKENS_PER_SECOND)
        for peer in peers:
            self.probe(peer, a.warmup, stream=True)
        self.pace_simulator(0)

        rounds: list[dict[str, dict]] = []
        for r in range(1, a.rounds + 1):
            round_data: dict[str, dict] = {p.name: {} for p in peers}
            for peer in peers:
                round_data[peer.name]["tput"] = self.wrk(peer, a.throughput_seconds, a.connections)
            for peer in peers:
                round_data[peer.name]["lat"] = self.probe(peer, a.latency_seconds, stream=False)
            self.pace_simulator(STREAM_TOKENS_PER_SECOND)
            for peer in peers:
                round_data[peer.name]["ttft"] = self.probe(peer, a.latency_seconds, stream=True)
            self.pace_simulator(0)
            round_data["_load"] = loadavg()  # type: ignore[assignment]
            rounds.append(round_data)
            log(f"round {r}/{a.rounds}: " + "; ".join(
                f"{p.name} {round_data[p.name]['tput']['rps']:.0f} req/s, c1 p50 {round_data[p.name]['lat']['total_p50_us']:.0f} us, "
                f"ttft p50 {round_data[p.name]['ttft']['first_token_p50_us']:.0f} us" for p in peers)
                + f" (load {round_data['_load']})")

        if any(p.name == "gateway" for p in peers):
            events = self.events_written()
            self.gateway_evidence.append(f"entries on llmsecops:events after the run: {events or '?'}"
                                         + (" (NO events were written: the full stack was not on)" if events == "0" else ""))
            status, _, usage = http("GET", f"{self.admin_base}/admin/usage?tenantId={self.tenant_id}", headers=self.admin_auth)
            self.gateway_evidence.append(f"GET /admin/usage for the bench tenant after the run: HTTP {status} "
                                         f"{usage[:400].decode(errors='replace')}")
        finished = datetime.datetime.now(datetime.timezone.utc)
        report = Report(self, peers, rounds, started, finished, load_before, loadavg())
        text = report.markdown()
        print()
        print(report.summary())
        if a.write:
            out = ROOT / a.output
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)
            log(f"written to {a.output}")
        return 0

    def tool_versions(self) -> dict[str, str]:
        def first_line(argv: list[str]) -> str:
            try:
                r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
                return (r.stdout or r.stderr).strip().splitlines()[0]
            except (OSError, IndexError, subprocess.TimeoutExpired):
                return "?"
        cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                    if l.startswith("model name")), platform.processor() or "?")
        return {"nginx": first_line(["nginx", "-v"]), "node": first_line(["node", "--version"]),
                "wrk": first_line(["wrk", "--version"]).split(" [")[0], "dotnet": first_line(["dotnet", "--version"]),
                "cpu": cpu, "kernel": platform.release()}


def process_tree(pid: int) -> set[int]:
    """pid and its descendants (nginx workers, PostgreSQL backends)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    tree = {pid}
    grew = True
    while grew:
        grew = False
        for child, parent in parents.items():
            if parent in tree and child not in tree:
                tree.add(child)
                grew = True
    return tree


def cpu_seconds(pids: set[int]) -> float:
    """User + system CPU seconds used so far by pids (processes that ended since are not counted)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class Report:
    def __init__(self, bench: Bench, peers: list[Peer], rounds: list[dict], started, finished, load_before: str, load_after: str):
        self.b, self.peers, self.rounds = bench, peers, rounds
        self.started, self.finished, self.load_before, self.load_after = started, finished, load_before, load_after
        self.names = [p.name for p in peers]

    def series(self, name: str, kind: str, key: str) -> list[float]:
        return [r[name][kind][key] for r in self.rounds]

    def added(self, name: str, kind: str, key: str) -> float:
        return median([r[name][kind][key] - r["direct"][kind][key] for r in self.rounds])

    def ratio(self, a: str, b: str) -> float:
        return median([r[a]["tput"]["rps"] / r[b]["tput"]["rps"] for r in self.rounds])

    def errors(self, name: str) -> int:
        return sum(r[name]["tput"]["non2xx"] + r[name]["tput"]["socket_errors"] + r[name]["lat"]["errors"] + r[name]["ttft"]["errors"]
                   + r[name]["ttft"].get("error_frames", 0) for r in self.rounds)

    def error_notes(self) -> list[str]:
        notes = []
        for name in self.names:
            frames = sum(r[name]["ttft"].get("error_frames", 0) for r in self.rounds)
            streams = sum(r[name]["ttft"]["requests"] for r in self.rounds)
            if frames:
                notes.append(f"- {name}: {frames:,} of {streams:,} streamed responses (HTTP 200) ended with an error frame "
                             "(`data: {\"error\":...}`) after the first token; their time to first token is counted, "
                             "their stream end is early.")
            first = next((r[name][k]["first_error"] for r in self.rounds for k in ("lat", "ttft") if r[name][k].get("first_error")), None)
            if first:
                notes.append(f"- {name}: first probe error: {first}")
            non2xx = sum(r[name]["tput"]["non2xx"] for r in self.rounds)
            if non2xx:
                notes.append(f"- {name}: {non2xx:,} non-2xx responses during the throughput runs (counted in its req/s).")
        return notes

    def cpu_rows(self) -> list[list[str]]:
        rows = []
        for name in self.names:
            per_round = [r[name]["tput"].get("cpu_us", {}) for r in self.rounds]
            if not all(per_round):
                continue
            parts = sorted(k for k in per_round[0] if k != "simulator")
            proxy = median([sum(c[k] for k in parts) for c in per_round]) if parts else 0.0
            sim = median([c["simulator"] for c in per_round])
            detail = ", ".join(f"{k} {median([c[k] for c in per_round]):.0f}" for k in parts) or "-"
            rows.append([name, "-" if not parts else f"{proxy:.0f}", detail, f"{sim:.0f}", f"{proxy + sim:.0f}"])
        return rows

    CPU_HEADER = ["peer", "proxy side CPU us/req", "of which", "simulator CPU us/req", "server side total us/req"]

    def rows(self) -> list[list[str]]:
        rows = []
        for name in self.names:
            rows.append([
                name,
                f"{median(self.series(name, 'tput', 'rps')):,.0f}",
                f"{median(self.series(name, 'lat', 'total_p50_us')) / 1000:.3f}",
                f"{median(self.series(name, 'lat', 'total_p99_us')) / 1000:.3f}",
                "-" if name == "direct" else f"{self.added(name, 'lat', 'total_p50_us') / 1000:+.3f}",
                "-" if name == "direct" else f"{self.added(name, 'lat', 'total_p99_us') / 1000:+.3f}",
                f"{median(self.series(name, 'ttft', 'first_token_p50_us')) / 1000:.3f}",
                f"{median(self.series(name, 'ttft', 'first_token_p99_us')) / 1000:.3f}",
                "-" if name == "direct" else f"{self.added(name, 'ttft', 'first_token_p50_us') / 1000:+.3f}",
                "-" if name == "direct" else f"{self.added(name, 'ttft', 'first_token_p99_us') / 1000:+.3f}",
                f"{median(self.series(name, 'ttft', 'total_p50_us')) / 1000:.3f}",
                str(self.errors(name)),
            ])
        return rows

    HEADER = ["peer", "req/s (c=%d)", "c=1 p50 ms", "c=1 p99 ms", "added p50 ms", "added p99 ms",
              "TTFT p50 ms", "TTFT p99 ms", "added TTFT p50 ms", "added TTFT p99 ms", "stream end p50 ms", "errors"]

    def header(self) -> list[str]:
        return [h.replace("%d", str(self.b.args.connections)) for h in self.HEADER]

    def ratios(self) -> list[str]:
        lines = []
        if "nginx" in self.names and "portkey" in self.names:
            lines.append(f"portkey / nginx throughput: {self.ratio('portkey', 'nginx'):.2f}")
        for a, b in (("nginx", "direct"), ("gateway", "direct"), ("gateway", "nginx"), ("gateway", "portkey")):
            if a in self.names and b in self.names:
                lines.append(f"{a} / {b} throughput: {self.ratio(a, b):.2f}")
        return lines

    def targets(self) -> list[str]:
        if "gateway" not in self.names:
            return [f"{self.b.gateway_status}: the targets below cannot be judged yet.",
                    "- added p99 at concurrency 1 under 1 ms: not measured",
                    "- throughput at least 3x Portkey's: not measured",
                    "- throughput at least half of nginx's: not measured",
                    "- streaming adds under 1 ms to the first token: not measured"]
        errors = self.errors("gateway")
        warning = [f"- WARNING: {errors} gateway requests failed or were refused during the run; its figures include them."] if errors else []
        p99 = self.added("gateway", "lat", "total_p99_us") / 1000
        ttft = self.added("gateway", "ttft", "first_token_p50_us") / 1000
        ttft99 = self.added("gateway", "ttft", "first_token_p99_us") / 1000
        nan = float("nan")
        vs_portkey = self.ratio("gateway", "portkey") if "portkey" in self.names else nan
        vs_nginx = self.ratio("gateway", "nginx") if "nginx" in self.names else nan

        def met(ok: bool) -> str:
            return "met" if ok else "NOT met"
        def versus(ratio: float, target: float) -> str:
            return "not measured (peer left out)" if ratio != ratio else f"{ratio:.2f}x -> {met(ratio >= target)}"
        return warning + [
            f"- added p99 at concurrency 1 under 1 ms: {p99:+.3f} ms -> {met(p99 < 1)}",
            f"- throughput at least 3x Portkey's: {versus(vs_portkey, 3)}",
            f"- throughput at least half of nginx's: {versus(vs_nginx, 0.5)}",
            f"- streaming adds under 1 ms to the first token: p50 {ttft:+.3f} ms -> {met(ttft < 1)} (p99 {ttft99:+.3f} ms)",
        ]

    @staticmethod
    def table(header: list[str], rows: list[list[str]]) -> str:
        out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        out += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(out)

    def summary(self) -> str:
        widths = [max(len(h), *(len(r[i]) for r in self.rows())) for i, h in enumerate(self.header())]
        lines = ["  ".join(h.rjust(w) for h, w in zip(self.header(), widths))]
        lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in self.rows()]
        cpu = self.cpu_rows()
        if cpu:
            cw = [max(len(h), *(len(r[i]) for r in cpu)) for i, h in enumerate(self.CPU_HEADER)]
            lines += ["", "  ".join(h.rjust(w) for h, w in zip(self.CPU_HEADER, cw))]
            lines += ["  ".join(c.rjust(w) for c, w in zip(row, cw)) for row in cpu]
        lines += ["", *self.ratios(), "", *self.error_notes(), self.b.gateway_status, *self.b.gateway_evidence, *self.targets(),
                  f"load average before {self.load_before}, after {self.load_after}; nproc {os.cpu_count()}"]
        return "\n".join(lines)

    def command(self) -> str:
        return "bench/gateway/run.sh" + ("" if not self.b.args.argv else " " + " ".join(self.b.args.argv))

    def markdown(self) -> str:
        a, v = self.b.args, self.b.versions
        pin = (f"server side (simulator, proxy, Redis, PostgreSQL) on CPU {self.b.server_cpu}, load generators on CPU "
               f"{self.b.client_cpu} (`taskset`)" if self.b.server_cpu is not None else "none") + f" ({self.b.pin_reason})"
        per_round = []
        for i, r in enumerate(self.rounds, 1):
            per_round.append([str(i), r["_load"], *(
                f"{r[n]['tput']['rps']:,.0f} / {r[n]['lat']['total_p50_us'] / 1000:.3f} / {r[n]['lat']['total_p99_us'] / 1000:.3f} / "
                f"{r[n]['ttft']['first_token_p50_us'] / 1000:.3f}" for n in self.names)])
        noisy = float(self.load_before.split()[0]) > (os.cpu_count() or 1)
        return f"""## Gateway benchmark (issue 4): simulator direct, nginx, Portkey and the LlmSecOps gateway

Generated by `bench/gateway/bench.py`; not a CI gate, never asserted in tests.

**Status: {self.b.gateway_status}.**{" The gateway's data plane was not in the tree when this ran, so there are no gateway figures: the table compares the three peers that exist, and the script adds the gateway by itself once its data plane answers `POST /v1/chat/completions`." if self.b.gateway_status.startswith(NOT_AVAILABLE) else ""}

- Command: `{self.command()}` ({"quick mode" if a.quick else "full mode"}: {a.rounds} rounds; per round and peer {a.throughput_seconds} s of throughput, {a.latency_seconds} s at concurrency 1, {a.latency_seconds} s streaming; {a.warmup} s warm-up per peer)
- Date: {self.started:%Y-%m-%d %H:%M} to {self.finished:%H:%M} UTC
- Machine: nproc {os.cpu_count()}, {v.get('cpu', '?')}, Linux {v.get('kernel', '?')}; load average (1/5/15 min) {self.load_before} before, {self.load_after} after
- Software: .NET SDK {v.get('dotnet', '?')}, {v.get('nginx', '?')}, Node {v.get('node', '?')}, @portkey-ai/gateway {v.get('portkey', '?')}, {v.get('wrk', '?')}
- Pinning: {pin}
{"" if not noisy else f'''
> **Noisy machine.** The load average ({self.load_before}) was far above the {os.cpu_count()} cores while this ran: other
> engineers were building and testing on the same machine. Absolute figures are unreliable and p99s are dominated by
> scheduling delays; the ratios, measured side by side in alternating rounds, are the figures to read. Re-run on a quiet
> machine before quoting numbers.
'''}
### Results (medians over {len(self.rounds)} rounds)

{self.table(self.header(), self.rows())}

- req/s: wrk, 1 thread, {a.connections} keep-alive connections, non-streaming chat (16 tokens).
- c=1: the probe, one keep-alive connection, one request at a time, non-streaming chat; time to the end of the response.
- TTFT: streaming chat (SSE, 8 tokens, simulator paced at {STREAM_TOKENS_PER_SECOND} tokens/s so a buffering proxy
  would show up as a late first token); time from sending the request to the first `data:` line with a content token.
- stream end: time to the end of the streamed response (the upstream takes about 8 ms to send it). A first token
  that arrives about when the stream ends means the peer buffered the stream.
- added = median over rounds of (peer - direct) in the same round. errors = non-2xx, socket errors and failed probes, all rounds.

{chr(10).join(self.error_notes()) or "No errors: every response was HTTP 200 and every stream ended with `data: [DONE]` and no error frame."}

CPU time per request during the throughput runs (user + system from /proc, median over rounds; the proxy side of
the gateway is the gateway process plus the Redis and PostgreSQL it uses). Unlike req/s this hardly depends on what
else the machine was doing, so it is the figure to compare when the machine was busy:

{self.table(self.CPU_HEADER, self.cpu_rows())}

Throughput ratios (median of per-round ratios):

{chr(10).join("- " + line for line in self.ratios())}

### Targets (issue 4)

{chr(10).join(self.targets())}

{chr(10).join("- " + e for e in self.b.gateway_evidence)}
{chr(10).join(self.b.warmup_notes)}

### Peers

{chr(10).join(f"- **{p.name}**: {p.note}; `POST /{p.url.split('/', 3)[3]}`" + (f" with headers {', '.join(k for k in p.headers)}" if p.headers else "") for p in self.peers)}

### Per round (req/s / c=1 p50 ms / c=1 p99 ms / TTFT p50 ms)

{self.table(["round", "load avg", *self.names], per_round)}

### Method

- One simulator (`tests/LlmSecOps.Simulator`, Release, `--Simulator:RequestLogCapacity=0`, no delay and unlimited
  tokens/s for the non-streaming runs, workstation GC and no thread-pool spinning: it stands in for a model server that
  would not share these cores) is the upstream of every peer; `direct` calls it without a proxy.
- The gateway runs with its shipped runtime settings (workstation GC, no thread-pool spinning: see
  `services/LlmSecOps.Gateway/LlmSecOps.Gateway.csproj`).
- nginx: `bench/gateway/nginx.conf.template` (`worker_processes 1`, `keepalive 32` upstream, HTTP/1.1 to the
  upstream, `proxy_buffering off`, `proxy_request_buffering off`, access log off).
- Portkey: `bench/gateway/portkey` (lockfile committed; `@hono/node-server` pinned to 1.13.8 through npm `overrides`
  because its streaming fails on Node 20 otherwise), started as `node .../build/start-server.js --port=N --headless`
  with `NODE_ENV=production`, routed with `x-portkey-provider: openai` and `x-portkey-custom-host`. It has no inbound
  auth: it is compared as a proxy only.
- The LlmSecOps gateway: Release build, a throw-away PostgreSQL cluster (fsync off) and redis-server (password) on
  loopback, the simulator's model approved at its digest (`PUT /admin/models/{{name}}`), a tier with limits high
  enough never to refuse, a tenant and key with daily/monthly token budgets (reserved and settled on every request),
  logs at Warning. Every request is authenticated with the key and goes through the full path.
- Peers alternate in every round (throughput A B C D, then c=1 A B C D, then streaming A B C D); figures are medians
  over rounds. wrk's own latency percentiles are not used: on this machine at `-c1` they were inconsistent with its
  request count (p75 above 0.8 ms while 70,000 requests completed in 3 s), so latency comes from the probe
  (`bench/LlmSecOps.Gateway.Bench`: .NET `HttpClient`, `Stopwatch`, one connection, responses checked: HTTP 200 and,
  for streams, a content token and `data: [DONE]`).
- Everything runs on 127.0.0.1. The load generators share the machine with the servers. With pinning, the server
  side (simulator + proxy + Redis + PostgreSQL) gets one core and the clients the other. `--pin auto` (the default)
  pins only when the 1-minute load average is below nproc: on a machine loaded by other work, pinning the server side
  to one core made every proxy hop wait for a turn on that contended core (nginx's added time to first token went
  from about 0.03 ms unpinned to about 1.7 ms pinned in a trial at load average ~35), charging the proxies for
  foreign load.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="about 2 minutes: 3 short rounds (does not write the doc unless --write)")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--connections", type=int, default=10, help="wrk connections for throughput (default 10)")
    parser.add_argument("--pin", choices=["auto", "on", "off"], default="auto",
                        help="pin the server side and the load generators to separate CPUs (auto: only when the load average is below nproc)")
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--client-cpu", default="1")
    parser.add_argument("--no-gateway", action="store_true", help="leave the LlmSecOps gateway out")
    parser.add_argument("--peers", default="direct,nginx,portkey,gateway",
                        help="comma-separated peers to measure (direct is always measured: the added figures are against it); "
                             "a partial run never writes the doc unless --write is given")
    parser.add_argument("--skip-build", action="store_true", help="use the existing Release builds")
    parser.add_argument("--write", dest="write", action="store_true", default=None, help="write the markdown report")
    parser.add_argument("--no-write", dest="write", action="store_false")
    parser.add_argument("--output", default="docs/benchmarks/gateway.md")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    argv = sys.argv[1:]
    args = parser.parse_args(argv)
    args.argv = argv
    if args.quick:
        args.rounds = args.rounds or 3
        args.throughput_seconds, args.latency_seconds, args.warmup = 2, 2, 3
    else:
        args.rounds = args.rounds or 5
        args.throughput_seconds, args.latency_seconds, args.warmup = 6, 5, 5
    if args.write is None:
        args.write = not args.quick and set(args.peers.split(",")) >= {"direct", "nginx", "portkey", "gateway"}
    if args.rounds < 1 or args.connections < 1:
        parser.error("--rounds and --connections must be at least 1")

    bench = Bench(args)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        return bench.run()
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        bench.stop_all()


if __name__ == "__main__":
    sys.exit(main())
