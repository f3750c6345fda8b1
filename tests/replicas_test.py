#!/usr/bin/env python3
"""Two `vkllm serve` replicas behind HAProxy with session affinity on a header (README's
"Several replicas"): a conversation keeps reaching the replica that holds its prefix (its second
turn reuses cached KV blocks), and a new conversation goes to the other replica.

    replicas_test.py VKLLM_BIN MODEL_DIR WORK_DIR HAPROXY_BIN
"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

vkllm, model, work, haproxy = sys.argv[1:5]
if not os.access(haproxy, os.X_OK):
    sys.exit(f"replicas_test: haproxy not found ('{haproxy}'); tools/install-deps.sh installs it")
os.makedirs(work, exist_ok=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as r:
        return r.read().decode()


def chat(port, session, messages):
    body = json.dumps({"model": "tiny-kjv", "messages": messages, "max_tokens": 8,
                       "temperature": 0}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body,
                                 headers={"Content-Type": "application/json",
                                          "X-Session-Id": session})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def served(port):
    """Chat requests this replica answered, from its /metrics."""
    total = 0
    for line in get(port, "/metrics").splitlines():
        if line.startswith('vkllm_requests_total{endpoint="/v1/chat/completions",status="200"}'):
            total += int(line.split()[-1])
    return total


def wait_for(port, what):
    for _ in range(600):
        try:
            get(port, "/health")
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"replicas_test: {what} did not come up on port {port}")


replicas = [free_port(), free_port()]
front = free_port()
procs = []
try:
    for port in replicas:
        procs.append(subprocess.Popen([vkllm, "serve", "-m", model, "--port", str(port),
                                       "--parallel", "2"]))
    cfg = os.path.join(work, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(f"""global
    maxconn 256
defaults
    mode http
    timeout connect 5s
    timeout client 300s
    timeout server 300s
frontend api
    bind 127.0.0.1:{front}
    default_backend vkllm
backend vkllm
    balance roundrobin
    stick-table type string len 128 size 100k expire 1h
    stick on hdr(X-Session-Id)
    option httpchk GET /health
    server a 127.0.0.1:{replicas[0]} check inter 1s
    server b 127.0.0.1:{replicas[1]} check inter 1s
""")
    for port in replicas:
        wait_for(port, "vkllm serve")
    procs.append(subprocess.Popen([haproxy, "-f", cfg, "-db"]))
    wait_for(front, "haproxy")

    turn = [{"role": "user", "content": "In the beginning God created the heaven and the "
                                        "earth. And the earth was without form, and void"}]
    first = chat(front, "alice", turn)
    turn += [first["choices"][0]["message"],
             {"role": "user", "content": "And God said"}]
    second = chat(front, "alice", turn)
    cached = second["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert cached >= 16, f"alice's second turn reused {cached} cached tokens"
    chat(front, "bob", [{"role": "user", "content": "Blessed are the meek"}])
    counts = sorted(served(p) for p in replicas)
    assert counts == [1, 2], f"requests per replica {counts}: want alice's two on one, bob's on the other"
    print(f"replicas_test: ok (alice's second turn reused {cached} tokens; requests per replica "
          f"{counts})")
finally:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
