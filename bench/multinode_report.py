#!/usr/bin/env python3
"""The table of docs/multinode.md from bench/multinode_study.sh's output: per rate, the alpha-beta
fit of all_reduce per link kind (TP groups within a host, DP groups across hosts, the world across
hosts), and per train layout the step, tokens/s, TP and DP communication split into wait and
transfer, and the DP all-reduce against the fit's prediction (calls x alpha + bytes x beta, with
the fit of the DP groups' size).

    python3 bench/multinode_report.py OUT_DIR
"""
import json,os,statistics,sys
base=sys.argv[1]
rates=sys.argv[2:] or ['1gbit', '10gbit']
for rate in rates:
    print("==", rate)
    fits={}
    for name in ("tp-groups","dp-groups","world"):
        d=json.load(open(f"{base}/{rate}/comm-{name}.json"))
        f=d["ops"][0]["fit"]; fits[name]=f
        big=d["ops"][0]["sizes"][-1]
        print(f"  comm {name:10} {d['config'].get('link')}: alpha {f['alpha_s']*1e6:.1f} us, 1/beta {f['bandwidth_gbps']:.3f} GB/s, fit rms err {f['rms_rel_err']*100:.0f}%; 16 MiB busbw {big['out_of_place']['busbw_gbps']:.3f} GB/s")
    for tp in (1,2,4):
        p=f"{base}/{rate}/train-tp{tp}.json"
        if not os.path.exists(p): print("  missing",p); continue
        doc=json.load(open(p)); s=doc["summary"]; rd=doc["run_directory"]
        m=[json.loads(l) for l in open(os.path.join(rd,"metrics.jsonl"))]
        timed=[x for x in m if not x["warmup"]]; r0=[x for x in timed if x["rank"]==0]
        med=lambda k,xs=timed: statistics.median(x[k] for x in xs)
        dpb, dpc = med("dp_bytes",r0), med("dp_calls",r0)
        fit = fits["world"] if tp==1 else fits["dp-groups"]
        pred = dpc*fit["alpha_s"]*1e3 + dpb*fit["beta_s_per_byte"]*1e3 if dpc else 0
        print(f"  train tp{tp}: step {s['step_ms']['median']:.0f} ms, {s['tokens_per_s']:.0f} tok/s, "
              f"TP {med('tp_comm_ms'):.1f} ms (wait {med('tp_wait_ms'):.1f} / transfer {med('tp_transfer_ms'):.1f}), "
              f"DP {med('dp_comm_ms'):.1f} ms (wait {med('dp_wait_ms'):.1f} / transfer {med('dp_transfer_ms'):.1f}), "
              f"DP {dpb/2**20:.2f} MiB in {dpc:.0f} calls" + (f"; predicted {pred:.1f} ms: DP time / predicted {med('dp_comm_ms')/pred:.2f}, "
                 f"transfer / predicted {med('dp_transfer_ms')/pred:.2f}" if pred else ""))
