"""`make bench-serve`: `digitcli serve` against the tutorials' Flask API, side by side in one run.

Load comes from `hey` (Debian's package) on this machine, to 127.0.0.1 only, bounded in
time or count. Writes bench-out/serve.json and prints Markdown rows for BENCHMARKS.md.

    python bench/bench_serve.py [--weights bench-out/cnn-seed0.h5] [--seconds 10]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from data_tools.sources import load_dataset, locate_mnist_npz  # noqa: E402
from servers import HOST, Server, free_port  # noqa: E402

CLIENTS = 16
CONFIGS = [  # name, --workers, other options of `digitcli serve`
    ("workers1_nobatch", 1, ["--batch-ms", "0"]), ("workers1_batch1ms", 1, ["--batch-ms", "1"]),
    ("workers2_nobatch", 2, ["--batch-ms", "0"]), ("workers2_batch0.5ms", 2, ["--batch-ms", "0.5"]),
    ("workers2_batch1ms", 2, ["--batch-ms", "1"]), ("workers2_batch2ms", 2, ["--batch-ms", "2"]),
]


def hey(url, body_file, content_type, seconds=None, count=None, clients=CLIENTS, headers=None):
    """Run `hey` against `url`; requests/s, latency percentiles (ms) and status counts."""
    limit = ["-z", f"{seconds}s"] if seconds else ["-n", str(count)]
    extra = [arg for name, value in (headers or {}).items() for arg in ("-H", f"{name}: {value}")]
    out = subprocess.run(["hey", *limit, "-c", str(clients), "-m", "POST", "-T", content_type, *extra,
                          "-D", str(body_file), url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    percentiles = {p: 1000 * float(s) for p, s in re.findall(r"(\d+)% in ([\d.]+) secs", out)}
    statuses = {int(code): int(n) for code, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)}
    return {"requests_per_second": round(rps, 1), "p50_ms": round(percentiles.get("50", 0), 1),
            "p99_ms": round(percentiles.get("99", 0), 1), "statuses": statuses}


def worker_pids(server):
    """uvicorn's worker processes (spawned children), or the server itself when it has none."""
    children = subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True).stdout.split()
    workers = [int(p) for p in children if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
    return workers or [server.proc.pid]


def rss_mb(pids, field="VmRSS"):
    total = 0
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        total += int(re.search(rf"{field}:\s+(\d+) kB", status).group(1))
    return round(total / 1024, 1)


def multipart_body(images, path):
    """A multipart/form-data body file of PNGs; returns its Content-Type."""
    boundary = "digitclibenchboundary"
    parts = []
    for i, image in enumerate(images):
        parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"{i}.png\"\r\n"
                     "Content-Type: image/png\r\n\r\n".encode() + cv2.imencode(".png", image)[1].tobytes() + b"\r\n")
    path.write_bytes(b"".join(parts) + f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}"


def baseline(weights, body, seconds):
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "flask_baseline.py"), str(weights), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://{HOST}:{port}/ready", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        hey(f"http://{HOST}:{port}/predict", body, "image/png", count=50)  # warm-up
        return hey(f"http://{HOST}:{port}/predict", body, "image/png", seconds=seconds)
    finally:
        proc.terminate()
        proc.wait()


def ours(weights, body, batch_body, batch_type, seconds, workers, extra=()):
    server = Server(weights, "--workers", workers, *extra)
    url = server.url + "/predict"
    try:
        hey(url, body, "image/png", count=2000)  # warm-up
        result = {"ready_seconds": round(server.ready_seconds, 2),
                  "single": hey(url, body, "image/png", seconds=seconds),
                  "batch_of_100": hey(url, batch_body, batch_type, seconds=seconds, clients=4)}
        result["batch_of_100"]["images_per_second"] = round(100 * result["batch_of_100"]["requests_per_second"])
        return result
    finally:
        server.stop()


def memory_and_limits(weights, body, workers):
    """RSS across 20,000 requests, and a real 30000x30000 PNG refused unread."""
    server = Server(weights, "--workers", workers)
    url = server.url + "/predict"
    try:
        pids = worker_pids(server)
        hey(url, body, "image/png", count=2000)
        before = rss_mb(pids)
        run = hey(url, body, "image/png", count=20000)
        after = rss_mb(pids)
        with tempfile.TemporaryDirectory() as tmp:
            huge = Path(tmp) / "huge.png"
            cv2.imwrite(str(huge), np.zeros((30000, 30000), np.uint8))
            size_mb = huge.stat().st_size / 1e6
            request = urllib.request.Request(url, data=huge.read_bytes(), headers={"Content-Type": "image/png"})
            try:
                status = urllib.request.urlopen(request, timeout=60).status
            except urllib.error.HTTPError as exc:
                status = exc.code
        return {"rss_before_mb": before, "rss_after_20000_mb": after, "rss_growth_mb": round(after - before, 1),
                "statuses": run["statuses"], "huge_png_mb": round(size_mb, 2), "huge_png_status": status,
                "peak_rss_mb_after_huge": rss_mb(pids, "VmHWM")}
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", default=str(REPO / "bench-out" / "cnn-seed0.h5"))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--out", default=str(REPO / "bench-out"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    weights = Path(args.weights)
    if not weights.is_file():
        raise SystemExit(f"{weights} not found: run `make bench` first (or pass --weights)")
    dataset = load_dataset("mnist", locate_mnist_npz(REPO))
    body, batch_body = out / "one.png", out / "batch100.multipart"
    cv2.imwrite(str(body), dataset.x_test[0])
    batch_type = multipart_body(dataset.x_test[:100], batch_body)
    results = {"cpu_count": os.cpu_count(), "clients": CLIENTS, "seconds": args.seconds,
               "baseline_flask": baseline(weights, body, args.seconds)}
    print("baseline", results["baseline_flask"], flush=True)
    for name, workers, extra in CONFIGS:
        results[name] = ours(weights, body, batch_body, batch_type, args.seconds, workers, extra)
        print(name, results[name], flush=True)
    results["memory"] = memory_and_limits(weights, body, 2)
    print("memory", results["memory"], flush=True)
    base = results["baseline_flask"]["requests_per_second"]
    for name, _, _ in CONFIGS:
        single = results[name]["single"]
        single["over_baseline"] = round(single["requests_per_second"] / base, 1)
    results["measured"] = time.strftime("%Y-%m-%d %H:%M")
    (out / "serve.json").write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
