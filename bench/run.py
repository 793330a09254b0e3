"""Every benchmark in one run, side by side with its baseline, as ratios.

    python -m bench [--quick] [--json bench/results/latest.json]

1. Client overhead: CPU time per operation of our SOAP gateway against a bare ``zeep.Client``
   on the same WSDL, and of our REST gateway against plain ``requests``, same calls, same
   sandbox (in its own process). Target: at most +15 %.
2. Start-up: a fresh process importing autopay_soap and making its first SOAP call;
   ``autopay-soap --help`` (target < 0.3 s, no zeep import); a second gateway against the first
   (target < 5 %).
3. Batch efficiency: autopayments with the sandbox at 20 ms latency, concurrency 1, 4, 16, 64
   in one process, and 16 and 64 with two worker processes (``processes=2``);
   ideal = rows x calls per autopayment x latency / concurrency; report ideal / actual
   (target >= 0.85 at 16) and autopayments per second.
4. Memory: peak RSS of the batch runner for two file sizes (target: within 20 %).
5. Sandbox capacity: sustained requests per second, SOAP (validated), REST and T-Bank JSON.
6. The SOAP hot path (``bench/soap_codec.py``): serialise + parse per hot operation with the
   compiled codecs, with zeep, and the lxml floor (target: compiled <= 3x the floor); client CPU
   per autopayment over SOAP (compiled, and zeep only) against REST (target <= 1.2x); the batch
   rows above run SOAP both ways ("soap-zeep": ``soap_compiled=False``), so the same run shows
   the speed-up at concurrency 64 (target >= 1.5x) and the efficiency at 16 (target >= 0.92).
7. The HTTP layer (``bench/http_layer.py``): client CPU of one POST through ``post_bounded``,
   plain requests, requests prepared once, urllib3's pool and ``http.client`` (the floor), with
   the sandbox's CPU per request beside them.
8. Scale-out: autopayments per second by 1, 2 and 4 Celery workers (4 processes each) with the
   sandbox at 100 ms, the journal in PostgreSQL and Redis as broker (``bench/cluster_scale.py``);
   speed-up over the ideal N (target >= 0.85). Skipped, with the reason, without the servers.
9. The batch wing at scale (``bench/batch_scale.py``): the pre-flight of a big file (time and
   peak RSS), a cluster producer queuing rows into PostgreSQL and Redis (rows per second, RSS
   flat in the number of rows) and the local runner's own CPU per row against one
   autopayment's client CPU (target <= 0.15).
10. Reconciliation at scale (``bench/reconcile_scale.py``): N orders of a day in the sandbox, paged
   through (200 a page) over REST and SOAP and compared with a journal of N rows; seconds and
   peak RSS (target: RSS flat in N, ratio <= 1.2).
11. Event hooks (``bench/observe_cost.py``): client CPU per autopayment with no hook, a no-op hook
   and the Prometheus hook, and the hook machinery's own cost alone (target: <= 2 % of one
   autopayment's client CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import make_binding, sandbox_client_factory, start_sandbox, write_charge_file  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CALLS_PER_AUTOPAYMENT = 3  # register, paymentOrderBinding, getOrderStatusExtended


def cpu_per_call(call: Callable[[int], Any], n: int) -> float:
    call(0)  # warm up
    started = time.process_time()
    for i in range(1, n + 1):
        call(i)
    return (time.process_time() - started) / n


def overhead(url: str, n: int) -> Dict[str, Any]:
    import zeep
    from zeep.wsse.username import UsernameToken

    from autopay_soap import Money
    from autopay_soap.gateways.rbs_rest import RbsRestGateway
    from autopay_soap.gateways.rbs_soap import BINDING_NAME, RbsSoapGateway
    from autopay_soap.wsdl_bundle import wsdl_path, zeep_settings

    soap_url, rest_url = url + "/payment/webservices/merchant-ws", url + "/payment/rest/"
    ours = RbsSoapGateway(soap_url, "sandbox-api", "sandbox-password")
    order_id = ours.register_order("OVH-SEED", Money.of("1.00", "RUB"), url + "/r").order_id
    bare = zeep.Client(str(wsdl_path()), wsse=UsernameToken("sandbox-api", "sandbox-password"),
                       settings=zeep_settings()).create_service(BINDING_NAME, soap_url)
    tag = time.time_ns()
    soap_ours = cpu_per_call(lambda i: (ours.order_status(order_id=order_id),
                                        ours.register_order(f"O{tag % 10**9}{i}", Money.of("1.00", "RUB"),
                                                            url + "/r")), n)
    soap_bare = cpu_per_call(lambda i: (bare.getOrderStatusExtended(order={"orderId": order_id}),
                                        bare.registerOrder(order={"merchantOrderNumber": f"B{tag % 10**9}{i}",
                                                                  "amount": 100, "currency": "643",
                                                                  "returnUrl": url + "/r"})), n)
    rest = RbsRestGateway(rest_url, "sandbox-api", "sandbox-password")
    http = requests.Session()
    auth = {"userName": "sandbox-api", "password": "sandbox-password"}
    rest_ours = cpu_per_call(lambda i: (rest.order_status(order_id=order_id),
                                        rest.register_order(f"R{tag % 10**9}{i}", Money.of("1.00", "RUB"),
                                                            url + "/r")), n)
    rest_bare = cpu_per_call(lambda i: (
        http.post(rest_url + "getOrderStatusExtended.do", data={**auth, "orderId": order_id}, timeout=10).json(),
        http.post(rest_url + "register.do", timeout=10, data={
            **auth, "orderNumber": f"Q{tag % 10**9}{i}", "amount": "100", "currency": "643",
            "returnUrl": url + "/r"}).json()), n)
    return {"pairs_of_calls": n,
            "soap_ours_ms": soap_ours * 1000, "soap_bare_zeep_ms": soap_bare * 1000,
            "soap_ratio": soap_ours / soap_bare,
            "rest_ours_ms": rest_ours * 1000, "rest_bare_requests_ms": rest_bare * 1000,
            "rest_ratio": rest_ours / rest_bare}


def timed_process(args: List[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def startup(url: str, repeat: int) -> Dict[str, Any]:
    first_call = ("from autopay_soap.gateways.rbs_soap import RbsSoapGateway\n"
                  f"g = RbsSoapGateway('{url}/payment/webservices/merchant-ws', 'sandbox-api', 'sandbox-password')\n"
                  "g.bindings('nobody')")
    help_no_zeep = subprocess.run([sys.executable, "-c", "import sys; from autopay_soap import cli\n"
                                   "try:\n cli.main(['--help'])\nexcept SystemExit: pass\n"
                                   "print('zeep' in sys.modules)"], capture_output=True, text=True, check=True)
    probe = subprocess.run([sys.executable, str(ROOT / "bench" / "gateway_construction.py"), "--repeat", "3"],
                           capture_output=True, text=True, check=True)
    construction = json.loads(probe.stdout.strip().splitlines()[-1])["median_seconds"]
    return {
        "import_and_first_soap_call_s": timed_process([sys.executable, "-c", first_call], repeat),
        "help_s": timed_process([sys.executable, "-m", "autopay_soap.cli", "--help"], repeat),
        "help_imports_zeep": help_no_zeep.stdout.strip().endswith("True"),
        "first_gateway_ms": construction["first"] * 1000, "second_gateway_ms": construction["next"] * 1000,
        "second_over_first": construction["next"] / construction["first"],
    }


def batch_efficiency(rows: int, runs: List[Tuple[int, int]], latency_ms: float,
                     transports: List[str]) -> List[Dict[str, Any]]:
    """``runs``: (concurrency, processes) pairs, each run for every transport."""
    from autopay_soap.batch import BatchRunner

    proc, url = start_sandbox(latency_ms)
    results = []
    try:
        binding = make_binding(url)
        for transport, (concurrency, processes) in [(t, r) for t in transports for r in runs]:
            folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"autopay-eff-{time.time_ns()}"
            folder.mkdir(parents=True)
            file = write_charge_file(folder / "rows.csv", f"E{concurrency}-{folder.name[-8:]}", binding, rows)
            factory = sandbox_client_factory(url, transport)
            started = time.perf_counter()
            summary = BatchRunner(factory, folder / "j.sqlite", concurrency=concurrency,
                                  processes=processes).run(file)
            actual = time.perf_counter() - started
            ideal = rows * CALLS_PER_AUTOPAYMENT * latency_ms / 1000 / concurrency
            results.append({"transport": transport, "concurrency": concurrency, "processes": processes,
                            "rows": rows, "paid": summary.paid, "actual_s": actual, "ideal_s": ideal,
                            "efficiency": ideal / actual, "per_second": rows / actual})
            print(f"  batch {transport} c={concurrency:<3} p={processes} {rows} rows: {actual:6.1f} s, "
                  f"ideal {ideal:6.1f} s, efficiency {ideal / actual:.2f}, {rows / actual:5.0f}/s", flush=True)
    finally:
        proc.terminate()
        proc.wait()
    return results


def memory(sizes: List[int]) -> Dict[str, Any]:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "batch_memory.py"), "--rows", *map(str, sizes)],
                         capture_output=True, text=True, check=True)
    results = json.loads(out.stdout.strip().splitlines()[-1])
    return {"runs": results, "ratio": results[-1]["peak_rss_mib"] / results[0]["peak_rss_mib"]}


def capacity(seconds: float) -> Dict[str, Any]:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "sandbox_capacity.py"), "--seconds", str(seconds)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def soap_codec(quick: bool) -> Dict[str, Any]:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "soap_codec.py"), "--n", "500" if quick else "3000",
                          "--autopayments", "150" if quick else "600"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def http_layer(quick: bool) -> Dict[str, Any]:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "http_layer.py"), "--n", "500" if quick else "2000",
                          "--rows", "0"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _http_rows(report: Dict[str, Any]) -> List[Tuple[str, str, str, str]]:
    """One row per way of sending a call: client CPU against the http.client floor."""
    calls = report["http_layer"]["per_call"]
    floor = calls["http_client"]["client_us"]
    return [(f"HTTP layer per call: {name}", f"{r['client_us']:.0f} us (sandbox {r['sandbox_us']:.0f} us)",
             f"{r['client_us'] / floor:.2f}", "") for name, r in calls.items()]


def scale_out(rows: int) -> Dict[str, Any]:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "cluster_scale.py"), "--rows", str(rows)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return {"skipped": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def batch_scale(quick: bool) -> Dict[str, Any]:
    sizes = ["--preflight-rows", "100000" if quick else "1000000",
             "--producer-rows", *(["2000", "10000"] if quick else ["20000", "100000"]),
             "--cpu-rows", "1000" if quick else "5000"]
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "batch_scale.py"), *sizes], capture_output=True,
                         text=True)
    if out.returncode != 0:
        return {"skipped": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def reconcile_scale(quick: bool) -> Dict[str, Any]:
    sizes = ["--orders", *(["1000", "5000"] if quick else ["2000", "10000"])]
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "reconcile_scale.py"), *sizes], capture_output=True,
                         text=True)
    if out.returncode != 0:
        return {"skipped": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def observe_cost(quick: bool) -> Dict[str, Any]:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "observe_cost.py"), "--payments",
                          "100" if quick else "300"], capture_output=True, text=True)
    if out.returncode != 0:
        return {"skipped": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _observe_rows(found: Dict[str, Any]) -> List[Tuple[str, str, str, str]]:
    """The event hooks' cost (bench/observe_cost.py)."""
    if "skipped" in found:
        return [("event hooks", found["skipped"], "", "")]
    cpu = found["cpu_ms"]
    return [("client CPU per autopayment: no hook / no-op hook / Prometheus",
             f"{cpu['none']:.3f} / {cpu['no-op']:.3f} / {cpu['prometheus']:.3f} ms", "", "(end to end, noisy)"),
            ("hook machinery per autopayment (no-op hook)", f"{found['machinery']['added_us']:.1f} us",
             f"{found['no_op_overhead']:.4f}", "<= 0.02")]


def _reconcile_rows(found: Dict[str, Any]) -> List[Tuple[str, str, str, str]]:
    """Reconciliation at scale (bench/reconcile_scale.py): time and peak RSS per transport and size."""
    if "skipped" in found:
        return [("reconciliation", found["skipped"], "", "")]
    rows = []
    for transport, ratio in found["rss_ratio"].items():
        runs = [r for r in found["runs"] if r["transport"] == transport]
        rows.append((f"reconcile {transport} " + " / ".join(f"{r['orders']:,}" for r in runs) + " orders",
                     " / ".join(f"{r['seconds']:.1f} s" for r in runs) + ", RSS "
                     + " / ".join(f"{r['peak_rss_mib']:.0f}" for r in runs) + " MiB", f"{ratio:.3f}",
                     "RSS <= 1.2"))
    return rows


def _scale_rows(found: Dict[str, Any]) -> List[Tuple[str, str, str, str]]:
    """The batch wing at scale (bench/batch_scale.py): pre-flight, producer, runner CPU."""
    if "skipped" in found:
        return [("batch at scale", found["skipped"], "", "")]
    pre, cpu = found["preflight"], found["runner_cpu"]
    rows = [(f"pre-flight of {pre['rows']:,} rows", f"{pre['seconds']:.1f} s, {pre['peak_rss_mib']:.1f} MiB", "",
             "<= 1.2 x previous release")]
    producer = found.get("producer")
    if producer:
        runs = producer["runs"]
        rows.append(("cluster producer rows/s, " + " / ".join(f"{r['rows']:,}" for r in runs),
                     " / ".join(f"{r['rows_per_second']:,.0f}" for r in runs) + " rows/s, RSS "
                     + " / ".join(f"{r['peak_rss_mib']:.0f}" for r in runs) + " MiB",
                     f"{producer['rss_ratio']:.3f}", ">= 20,000 rows/s; RSS <= 1.2"))
    rows.append(("runner CPU per row / client CPU per autopayment",
                 f"{cpu['cpu_per_row_ms']:.3f} / {cpu['client_cpu_ms']:.3f} ms", f"{cpu['ratio']:.3f}", "<= 0.15"))
    return rows


def _batch_target(b: Dict[str, Any]) -> str:
    if b["transport"] == "soap" and b["concurrency"] == 16 and b["processes"] == 1:
        return ">= 0.92 (full run)"
    return ">= 0.85" if b["concurrency"] == 16 else ""


def _soap_rows(report: Dict[str, Any]) -> List[Tuple[str, str, str, str]]:
    """The SOAP hot path's rows: per operation against the lxml floor, CPU per autopayment against
    REST, and one process at concurrency 64 against zeep alone."""
    codec, cpu = report["soap_codec"]["codecs"], report["soap_codec"]["autopayment_cpu"]
    rows = [(f"SOAP {name} ser+parse, compiled / zeep / lxml floor",
             f"{r['compiled_us']:.0f} / {r['zeep_us']:.0f} / {r['lxml_floor_us']:.0f} us",
             f"{r['compiled_over_floor']:.2f}", "<= 3 x floor") for name, r in codec.items()]
    rows.append(("client CPU per autopayment SOAP / SOAP zeep / REST",
                 f"{cpu['soap_compiled_ms']:.2f} / {cpu['soap_zeep_ms']:.2f} / {cpu['rest_ms']:.2f} ms",
                 f"{cpu['soap_compiled_over_rest']:.2f}", "<= 1.2 x REST"))
    one = {(b["transport"], b["concurrency"]): b["efficiency"] for b in report["batch"] if b["processes"] == 1}
    for transport in ("soap", "rest"):  # one thread waits for nothing but the gateway: no more threads can beat it
        if (transport, 1) in one and (transport, 16) in one:
            rows.append((f"batch efficiency {transport} c=16 / c=1 (c=1: the ceiling)",
                         f"{one[(transport, 16)]:.3f} / {one[(transport, 1)]:.3f}",
                         f"{one[(transport, 16)] / one[(transport, 1)]:.3f}", ""))
    at64 = {b["transport"]: b["per_second"] for b in report["batch"] if b["concurrency"] == 64 and b["processes"] == 1}
    if "soap" in at64 and "soap-zeep" in at64:
        rows.append(("SOAP autopayments/s c=64 p=1, compiled / zeep", f"{at64['soap']:.0f} / {at64['soap-zeep']:.0f}",
                     f"{at64['soap'] / at64['soap-zeep']:.2f}", ">= 1.5"))
    return rows


def main() -> None:
    """Run everything, print a table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes: the whole run in a few minutes")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "latest.json"))
    args = parser.parse_args()
    quick = args.quick
    started = time.perf_counter()
    report: Dict[str, Any] = {
        "machine": {"arch": platform.machine(), "cores": os.cpu_count(), "python": platform.python_version()},
        "command": "python -m bench" + (" --quick" if quick else ""),
    }
    proc, url = start_sandbox(0)
    try:
        print("client overhead...", flush=True)
        report["overhead"] = overhead(url, 100 if quick else 400)
        print("start-up...", flush=True)
        report["startup"] = startup(url, 3 if quick else 7)
    finally:
        proc.terminate()
        proc.wait()
    print("batch efficiency (sandbox latency 20 ms)...", flush=True)
    report["batch"] = batch_efficiency(200 if quick else 2000, [(1, 1), (4, 1), (16, 1), (64, 1), (16, 2), (64, 2)],
                                       20.0, ["soap", "soap-zeep", "rest"])
    print("SOAP hot path (compiled codecs, zeep, lxml floor)...", flush=True)
    report["soap_codec"] = soap_codec(quick)
    print("HTTP layer (post_bounded, requests, urllib3, http.client)...", flush=True)
    report["http_layer"] = http_layer(quick)
    print("memory...", flush=True)
    report["memory"] = memory([1000, 5000] if quick else [10_000, 100_000])
    print("sandbox capacity...", flush=True)
    report["capacity"] = capacity(2 if quick else 5)
    print("scale-out (Celery workers, sandbox latency 100 ms)...", flush=True)
    report["scale_out"] = scale_out(240 if quick else 600)
    print("the batch wing at scale (pre-flight, cluster producer, runner CPU)...", flush=True)
    report["batch_scale"] = batch_scale(quick)
    print("reconciliation at scale (list pages, journal comparison)...", flush=True)
    report["reconcile_scale"] = reconcile_scale(quick)
    print("event hooks (no hook, no-op, Prometheus)...", flush=True)
    report["observe_cost"] = observe_cost(quick)
    report["total_seconds"] = time.perf_counter() - started

    o, s, m, c = report["overhead"], report["startup"], report["memory"], report["capacity"]
    eff16 = {f"{b['transport']} p={b['processes']}": b["efficiency"] for b in report["batch"]
             if b["concurrency"] == 16}
    rows = [
        ("SOAP CPU/op pair, ours vs bare zeep", f"{o['soap_ours_ms']:.2f} / {o['soap_bare_zeep_ms']:.2f} ms",
         f"{o['soap_ratio']:.3f}", "<= 1.15"),
        ("REST CPU/op pair, ours vs requests", f"{o['rest_ours_ms']:.2f} / {o['rest_bare_requests_ms']:.2f} ms",
         f"{o['rest_ratio']:.3f}", "<= 1.15"),
        ("import + first SOAP call", f"{s['import_and_first_soap_call_s']:.3f} s", "", ""),
        ("autopay-soap --help", f"{s['help_s']:.3f} s", f"zeep imported: {s['help_imports_zeep']}", "< 0.3 s"),
        ("second gateway vs first", f"{s['second_gateway_ms']:.3f} / {s['first_gateway_ms']:.2f} ms",
         f"{s['second_over_first']:.4f}", "< 0.05"),
    ] + [(f"batch efficiency {b['transport']} c={b['concurrency']} p={b['processes']}",
          f"{b['actual_s']:.1f} s (ideal {b['ideal_s']:.1f} s), {b['per_second']:.0f}/s",
          f"{b['efficiency']:.3f}", _batch_target(b)) for b in report["batch"]] + _soap_rows(report) + \
        _http_rows(report) + [
        ("peak RSS, batch", " / ".join(f"{r['rows']}: {r['peak_rss_mib']:.1f} MiB" for r in m["runs"]),
         f"{m['ratio']:.3f}", "<= 1.20"),
        ("sandbox capacity SOAP / REST / T-Bank", f"{c['soap_rps']:.0f} / {c['rest_rps']:.0f} / "
         f"{c['tbank_rps']:.0f} req/s", "", ""),
    ] + ([("scale-out", report["scale_out"]["skipped"], "", "")] if "skipped" in report["scale_out"] else [
        (f"scale-out {r['workers']} worker(s) x 4, speed-up over N",
         f"{r['per_second']:.1f}/s, CPU {r['machine_cpu_busy']:.0%}", f"{r['speed_up_over_ideal']:.3f}",
         ">= 0.85" if r["workers"] > 1 else "") for r in report["scale_out"]["runs"]]) + \
        _scale_rows(report["batch_scale"]) + _reconcile_rows(report["reconcile_scale"]) + \
        _observe_rows(report["observe_cost"])
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    print()
    print(f"{report['command']} on {report['machine']}  ({report['total_seconds']:.0f} s)")
    for r in [("benchmark", "measured", "ratio", "target")] + rows:
        print("  ".join(r[i].ljust(width[i]) for i in range(4)))
    report["batch_efficiency_at_16"] = eff16
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2))
    print(f"\nJSON: {args.json}")


if __name__ == "__main__":
    main()
