"""`make bench-hostile`: the heaviest requests `digitcli serve` allows, and what they cost.

For each hostile body (tests/hostile.py) in turn, against one worker on 127.0.0.1: the
answer's status and time, the worker's peak RSS during it (VmHWM, reset before each), and
the latency of `GET /v2/health/live` probed every 20 ms meanwhile. Then single-image
throughput with `hey` (16 clients, bounded in time). With --baseline REV the same runs go
against that revision of digitcli too (checked out in a temporary worktree), side by side.
Writes bench-out/hostile.json and prints Markdown rows for BENCHMARKS.md.

    python bench/bench_hostile.py [--weights bench-out/cnn-seed0.h5] [--baseline REV] [--seconds 8]
"""

import argparse
import json
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import hostile  # noqa: E402
from bench_serve import hey  # noqa: E402
from data_tools.sources import locate_mnist_npz  # noqa: E402
from revisions import checked_out  # noqa: E402
from servers import Server  # noqa: E402

LIMIT = 10 * 2**20  # serve's default --max-upload-mb


def bodies(digits):
    """(name, body, Content-Type, headers, path) of each hostile request."""
    fit = hostile.fitting
    cases = [
        ("40 WebP bombs (7000x7000, 2 KB each)", hostile.webp_bombs(40), "/predict"),
        ("10 WebP bombs", hostile.webp_bombs(10), "/predict"),
        ("one 16-bit RGBA PNG, 4000x4000", hostile.png_bomb_16bit(), "/predict"),
        ("8,000 PNGs of 28x28", hostile.many_pngs(digits, 8000), "/predict"),
        ("7,000 PNGs of 56x56", hostile.many_pngs(digits, 7000, 56), "/predict"),
        ("1400x1400 noisy PNGs filling 10 MB", fit(lambda n: hostile.large_pngs(digits, n), LIMIT), "/predict"),
        ("v2 JSON filling 10 MB", fit(hostile.v2_json, LIMIT), "infer"),
        ("v2 binary filling 10 MB", fit(hostile.v2_binary, LIMIT), "infer"),
    ]
    return [(name, *body, path) for name, body, path in cases]


def post(url, body, content_type, headers, timeout=120):
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type, **headers})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        exc.read()
        status = exc.code
    return status, time.perf_counter() - start


class HealthProbe(threading.Thread):
    """GET /v2/health/live every 20 ms until stopped; `latencies` in seconds."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url, self.latencies, self.running = url + "/v2/health/live", [], True

    def run(self):
        while self.running:
            start = time.perf_counter()
            try:
                urllib.request.urlopen(self.url, timeout=30).read()
            except OSError:
                pass
            self.latencies.append(time.perf_counter() - start)
            time.sleep(0.02)

    def stop(self):
        self.running = False
        self.join()
        return self.latencies


def peak_rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024


def measure(server, cases, name_of_model):
    rows = []
    for name, body, content_type, headers, path in cases:
        url = server.url + (f"/v2/models/{name_of_model}/infer" if path == "infer" else path)
        before = peak_rss_mb(server.proc.pid)
        Path(f"/proc/{server.proc.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
        base = peak_rss_mb(server.proc.pid)
        probe = HealthProbe(server.url)
        probe.start()
        time.sleep(0.1)
        status, seconds = post(url, body, content_type, headers)
        time.sleep(0.05)
        latencies = np.array(probe.stop()) * 1000
        rows.append({"request": name, "bytes": len(body), "status": status, "seconds": round(seconds, 2),
                     "peak_rss_increase_mb": round(peak_rss_mb(server.proc.pid) - base, 1),
                     "rss_before_mb": round(before, 1), "health_p99_ms": round(float(np.percentile(latencies, 99)), 1),
                     "health_max_ms": round(float(latencies.max()), 1), "health_probes": len(latencies)})
        print(rows[-1], flush=True)
    return rows


def throughput(server, digit, seconds):
    with tempfile.NamedTemporaryFile(suffix=".png") as f:
        f.write(cv2.imencode(".png", digit)[1].tobytes())
        f.flush()
        return hey(server.url + "/predict", f.name, "image/png", seconds=seconds)


def v2_batches(server, name, seconds, count=256):
    """v2 inference of batches of `count` images, JSON against the binary extension (4 clients)."""
    url, results = f"{server.url}/v2/models/{name}/infer", {}
    for label, (body, content_type, headers) in (("json", hostile.v2_json(count)), ("binary", hostile.v2_binary(count))):
        with tempfile.NamedTemporaryFile() as f:
            f.write(body)
            f.flush()
            run = hey(url, f.name, content_type, seconds=seconds, clients=4, headers=headers)
        results[label] = {**run, "images_per_second": round(run["requests_per_second"] * count), "bytes": len(body)}
    return results


def run_all(weights, digits, seconds, env=None, batches=True):
    server = Server(weights, env=env)
    try:
        rows = measure(server, bodies(digits), Path(weights).stem)
        result = {"hostile": rows, "single_image": throughput(server, digits[0], seconds)}
        if batches:
            result["v2_batches_of_256"] = v2_batches(server, Path(weights).stem, seconds)
        return result
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="bench-out/cnn-seed0.h5")
    parser.add_argument("--baseline", default=None, help="a git revision to measure side by side")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--out", default="bench-out")
    args = parser.parse_args()
    with np.load(locate_mnist_npz(REPO)) as data:
        digits = data["x_test"][:2000]
    results = {}
    if args.baseline:
        with checked_out(args.baseline) as tree:
            results[f"baseline {args.baseline}"] = run_all(args.weights, digits, args.seconds,
                                                           env={"PYTHONPATH": tree}, batches=False)
    results["this tree"] = run_all(args.weights, digits, args.seconds, env={"PYTHONPATH": str(REPO)})
    Path(args.out).mkdir(exist_ok=True)
    Path(args.out, "hostile.json").write_text(json.dumps(results, indent=2) + "\n")
    print("\n| server | request | status | seconds | peak RSS + MB | health p99 / max ms |\n|---|---|---|---|---|---|")
    for label, result in results.items():
        for r in result["hostile"]:
            print(f"| {label} | {r['request']} ({r['bytes'] / 2**20:.1f} MB) | {r['status']} | {r['seconds']} | "
                  f"{r['peak_rss_increase_mb']:.0f} | {r['health_p99_ms']} / {r['health_max_ms']} |")
    print("\n| server | single image: requests/s | p50 ms | p99 ms |\n|---|---|---|---|")
    for label, result in results.items():
        s = result["single_image"]
        print(f"| {label} | {s['requests_per_second']:,.0f} | {s['p50_ms']} | {s['p99_ms']} |")
    batches = results["this tree"]["v2_batches_of_256"]
    print("\n| v2, batches of 256 | body | requests/s | images/s | p50 ms | p99 ms |\n|---|---|---|---|---|---|")
    for label, b in batches.items():
        print(f"| {label} | {b['bytes'] / 2**20:.2f} MB | {b['requests_per_second']:,.0f} | {b['images_per_second']:,} | "
              f"{b['p50_ms']} | {b['p99_ms']} |")


if __name__ == "__main__":
    main()
