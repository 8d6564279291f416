#!/usr/bin/env python3
"""Replication figures for docs/PERFORMANCE.md (issue #7): client write latency on a
2-node cluster against memcached, a source's get90 throughput while it streams a
full copy of 1M items, the copy's duration, and catch-up time after a 1 s pause.
Servers on cpu 0, loadgen on cpu 1, loopback ports 28000-29999. Prints JSON.

  /usr/bin/python3 bench/replication.py   (after building syncached and the loadgen)
"""
import json, os, signal, socket, subprocess, time
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B = os.path.join(ROOT, "build/bin/syncached")
LG = os.path.join(ROOT, "build/bin/syncached-loadgen")
def start(args, log):
    return subprocess.Popen(["taskset","-c","0"]+args, stdout=open(log,"w"), stderr=subprocess.STDOUT)
def wait_port(p, t=30):
    end=time.time()+t
    while time.time()<end:
        try: socket.create_connection(("127.0.0.1",p)).close(); return True
        except OSError: time.sleep(0.01)
    return False
def lg(port, *a):
    out=subprocess.run(["taskset","-c","1",LG,"--port",str(port)]+list(a),capture_output=True,text=True).stdout
    return json.loads(out).get("run", {})
def node(i, peers, extra=()):
    return [B,"-l","127.0.0.1","-p",str(28000+i),"-t","1","-m","2048","--node-id",str(i),"--replication-port",str(29000+i),
            "--peers",",".join("127.0.0.1:%d"%(29000+j) for j in peers),"--join-timeout","1"]+list(extra)
res={}
# 1. write latency: memcached vs a node of a 2-node cluster
mc=start(["/usr/bin/memcached","-p","28100","-l","127.0.0.1","-U","0","-u","root","-t","1","-m","2048"],"/tmp/rp-mc.log"); wait_port(28100)
r=lg(28100,"--conns","16","--keys","100000","--duration","4","--ratio","0:1"); res["memcached_set_p50_us"]=r["latency_us"]["p50"]; res["memcached_set_ops"]=r["ops_per_sec"]
mc.kill()
n1=start(node(1,[2]),"/tmp/rp1.log"); n2=start(node(2,[1]),"/tmp/rp2.log"); wait_port(28001); wait_port(28002)
r=lg(28001,"--conns","16","--keys","100000","--duration","4","--ratio","0:1"); res["cluster_set_p50_us"]=r["latency_us"]["p50"]; res["cluster_set_ops"]=r["ops_per_sec"]
# 2. source get90 throughput, normal vs during a full copy of 1M items
lg(28001,"--conns","8","--keys","1000000","--preload","--duration","0")
r=lg(28001,"--conns","16","--keys","1000000","--duration","3"); res["source_get90_ops_normal"]=r["ops_per_sec"]
n3=subprocess.Popen(["taskset","-c","1"]+node(3,[1]), stdout=open("/tmp/rp3.log","w"), stderr=subprocess.STDOUT)
t=time.time()
import threading
box={}
th=threading.Thread(target=lambda: box.update(r=lg(28001,"--conns","16","--keys","1000000","--duration","1.5")))
th.start(); wait_port(28003, 60); res["full_copy_1M_seconds"]=round(time.time()-t,2); th.join()
res["source_get90_ops_during_copy"]=box["r"]["ops_per_sec"]
n3.kill()
# 3. catch-up after a 1 s pause of node 2 under writes
w=subprocess.Popen(["taskset","-c","1",LG,"--port","28001","--conns","4","--keys","100000","--duration","4","--ratio","0:1"],stdout=subprocess.DEVNULL)
time.sleep(1); os.kill(n2.pid, signal.SIGSTOP); time.sleep(1.0); os.kill(n2.pid, signal.SIGCONT); t=time.time()
s=socket.create_connection(("127.0.0.1",28002))
def lag():
    s.sendall(b"stats replication\r\n"); b=b""
    while not b.endswith(b"END\r\n"): b+=s.recv(65536)
    return [int(l.split()[2]) for l in b.split(b"\r\n") if b":lag_changes" in l][0]
while lag()>50 and time.time()-t<10: time.sleep(0.01)
res["catch_up_after_1s_pause_seconds"]=round(time.time()-t,3)
w.wait()
for p in (n1,n2): p.kill()
for p in (n1,n2): p.wait()
print(json.dumps(res, indent=1))
