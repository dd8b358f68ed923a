"""Write load on a running `opsledger serve`: N writer threads, each opening incidents one
after another on its own keep-alive HTTP connection, for S seconds; prints writes/s and the
latency percentiles. Standard library only (the numbers in docs/PERFORMANCE.md, "Durability
modes over HTTP", come from it).

    opsledger serve --data /tmp/load --listen 127.0.0.1:7711 --token-file tokens.json \
        --durability group-commit --no-scheduler --no-webhooks &
    python3 crates/cli/benches/http_writers.py http://127.0.0.1:7711 TOKEN 24 10
"""
import http.client
import json
import sys
import threading
import time

url, token, threads, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
host, port = url.split("//")[1].split(":")
latencies, lock = [], threading.Lock()
stop = time.time() + seconds


def write(writer):
    connection = http.client.HTTPConnection(host, int(port))
    mine, i = [], 0
    while time.time() < stop:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "incident.open", "params": {
            "title": f"load {writer}-{i}", "caller": "bob", "impact": "low", "urgency": "low"}})
        started = time.perf_counter()
        connection.request("POST", "/rpc", body, {
            "content-type": "application/json", "authorization": "Bearer " + token})
        reply = connection.getresponse().read()
        mine.append(time.perf_counter() - started)
        assert b'"result"' in reply, reply[:200]
        i += 1
    with lock:
        latencies.extend(mine)


workers = [threading.Thread(target=write, args=(w,)) for w in range(threads)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
latencies.sort()


def percentile(q):
    return latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1000


print(f"{threads} writers: {len(latencies) / seconds:.0f} writes/s, p50 {percentile(0.5):.1f} ms, "
      f"p99 {percentile(0.99):.1f} ms ({len(latencies)} writes)")
