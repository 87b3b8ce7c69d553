#!/usr/bin/env python3
"""tpbench across hosts, on a real test cluster of network namespaces on this machine
(scripts/netns_cluster.sh: 2 hosts of 2 ranks, inter-host traffic over TCP, shared memory
within a host). Needs root and network namespaces; elsewhere it prints why and exits 77,
which ctest reports as skipped.

1. `train --tp 2` on 2 hosts x 2 ranks: every step's loss and grad norm equal the
   single-host run's within 1e-5 (relative); the mesh says which host each rank is on and
   that TP stays within hosts while DP crosses them.
2. Every collective exact across hosts (`comm -c`, world, and the DP groups of --tp 2).
3. A TP group spanning hosts is refused by name without --allow-tp-across-hosts (exit 2,
   one line), and runs with it, the header saying that TP crosses the network.
4. The cluster script leaves no namespace, link or process behind (also when a check fails).

    multinode_test.py TPBENCH WORKDIR
"""
import json
import os
import shlex
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CLUSTER = os.path.join(HERE, "..", "..", "scripts", "netns_cluster.sh")


def sh(args, env=None, expect=0, timeout=240):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, timeout=timeout)
    if expect is not None and p.returncode != expect:
        raise AssertionError(f"{' '.join(args)} exited {p.returncode}, expected {expect}:\n{p.stdout[-4000:]}")
    return p


def cluster_env():
    env = dict(os.environ)
    for line in sh(["bash", CLUSTER, "env"]).stdout.splitlines():
        for assignment in shlex.split(line.replace("export ", "", 1)):
            k, v = assignment.split("=", 1)
            env[k] = v
    return env


def steps(json_path):
    with open(json_path) as f:
        run_dir = json.load(f)["run_directory"]
    out = []
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            m = json.loads(line)
            if m["rank"] == 0:
                out.append((m["iter"], m["loss"], m["grad_norm"]))
    return out


def leftovers():
    ns = [l.split()[0] for l in sh(["ip", "netns", "list"]).stdout.splitlines() if l.startswith("tpb-")]
    links = [l for l in sh(["ip", "-o", "link", "show"]).stdout.splitlines() if ": tpb-" in l]
    procs = sh(["pgrep", "-f", "netns_cluster.sh agent|tpb-h[0-9]"], expect=None).stdout.split()
    return ns, links, procs


def checks(tpbench, work, env):
    hosts = sh(["bash", CLUSTER, "hosts", "2", "2"]).stdout.strip()
    out = os.path.join(work, "runs")
    base = ["--preset", "tiny", "--iters", "6", "--out", out, "--no-plots"]

    # 1. the same training on one host and on two
    sh([tpbench, "--nproc", "4", "train", "--tp", "2", *base, "--json", os.path.join(work, "one.json")])
    p = sh([tpbench, "--hosts", hosts, "train", "--tp", "2", *base, "--json", os.path.join(work, "two.json")], env=env)
    for want in ("[h1][rank 0/4] [tp:0/2][dp:0/2]", "[h2][rank 3/4] [tp:1/2][dp:1/2]",
                 "topology: 2 hosts (h1: ranks 0-1, h2: ranks 2-3); TP groups within hosts; DP groups across hosts",
                 "DP communication (across hosts)"):
        assert want in p.stdout, f"'{want}' not in the 2-host train's output:\n{p.stdout[-3000:]}"
    one, two = steps(os.path.join(work, "one.json")), steps(os.path.join(work, "two.json"))
    assert len(one) == len(two) == 6, (one, two)
    for (i, l1, g1), (j, l2, g2) in zip(one, two):
        assert i == j and abs(l1 - l2) <= 1e-5 * abs(l1) and abs(g1 - g2) <= 1e-5 * abs(g1), \
            f"iteration {i}: loss {l1} vs {l2}, grad norm {g1} vs {g2}"
    print(f"ok: train --tp 2 on 2 hosts x 2 ranks = on one host ({len(one)} steps; last loss {one[-1][1]:.6f} "
          f"vs {two[-1][1]:.6f})")

    # 2. every collective exact across hosts
    for extra in ([], ["--tp", "2", "--group", "dp"]):
        p = sh([tpbench, "--hosts", hosts, "comm", "--op", "all", "-c", "1", "-b", "1K", "-e", "64K", "-f", "8",
                *extra], env=env)
        assert "0 wrong values in all (OK)" in p.stdout, p.stdout[-3000:]
    print("ok: comm -c, every collective exact across hosts (world, and the DP groups of --tp 2)")

    # 3. TP across hosts: refused, then allowed
    one_each = sh(["bash", CLUSTER, "hosts", "2", "1"]).stdout.strip()
    p = sh([tpbench, "--hosts", one_each, "train", "--tp", "2", *base], env=env, expect=2)
    errors = [l for l in p.stdout.splitlines() if "error" in l]
    assert len(errors) == 1 and "spans hosts" in errors[0] and "--allow-tp-across-hosts" in errors[0], p.stdout
    p = sh([tpbench, "--hosts", one_each, "--allow-tp-across-hosts", "train", "--tp", "2", *base], env=env)
    assert "TP groups across hosts (their collectives cross the network)" in p.stdout, p.stdout[-3000:]
    assert "TP communication (across hosts)" in p.stdout, p.stdout[-3000:]
    print("ok: a TP group spanning hosts refused by name, and run with --allow-tp-across-hosts")


def main():
    tpbench, work = sys.argv[1], sys.argv[2]
    c = subprocess.run(["bash", CLUSTER, "check"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if c.returncode != 0:
        print(f"SKIPPED: {c.stdout.strip()}")
        sys.exit(77)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    failure = None
    try:
        sh(["bash", CLUSTER, "up", "2"])
        checks(tpbench, work, cluster_env())
    except AssertionError as e:
        failure = e
    finally:
        sh(["bash", CLUSTER, "down"], expect=None)
    ns, links, procs = leftovers()
    if ns or links or procs:
        failure = failure or AssertionError(f"left behind: namespaces {ns}, links {links}, processes {procs}")
    else:
        print("ok: the cluster script left no namespace, link or process")
    if failure:
        sys.exit(f"FAIL: {failure}")
    print("ok")


if __name__ == "__main__":
    main()
