"""A KusciaAPI job with SecretFlow's PyPI client (`kuscia`'s generated gRPC
stubs): created at the initiator, seen waiting for approval at the partner,
approved there, queried at both until Succeeded, batch-queried, deleted.
Prints one JSON line per step; exits non-zero on the first failure. Used by
test/e2e/kusciaapi-jobs.test.ts.

argv: JSON {"alice": {"grpc", "token"}, "bob": {...}, "job_id", "app_image", "task_input_config"}
"""
import json
import sys
import threading
import time

import grpc
from kuscia.proto.api.v1alpha1.kusciaapi import job_pb2 as jp, job_pb2_grpc as jg

cfg = json.loads(sys.argv[1])


def stub(node):
    return jg.JobServiceStub(grpc.insecure_channel(cfg[node]["grpc"])), (("token", cfg[node]["token"]),)


def step(step_name, **facts):
    print(json.dumps({"step": step_name, **facts}), flush=True)


def ok(resp, what):
    if resp.status.code != 0:
        raise SystemExit(f"{what}: code {resp.status.code}: {resp.status.message}")
    return resp


def until(node, state, seconds=60):
    s, md = stub(node)
    deadline = time.monotonic() + seconds
    while True:
        q = s.QueryJob(jp.QueryJobRequest(job_id=cfg["job_id"]), metadata=md, timeout=20)
        # 11202: the initiator's proposal has not reached this party yet.
        if q.status.code != 11202:
            ok(q, f"QueryJob at {node}")
            if q.data.status.state == state:
                return q
        if time.monotonic() > deadline:
            raise SystemExit(f"job at {node} not {state} after {seconds} s: {q.status.code} {q.status.message} {q.data.status.state} {q.data.status.err_msg}")
        time.sleep(0.2)  # polling a state, bounded by the deadline


watched = {"states": [], "heartbeats": 0, "types": [], "done": threading.Event()}


def watch():
    s, md = stub("alice")
    call = s.WatchJob(jp.WatchJobRequest(timeout_seconds=150), metadata=md)
    watched["call"] = call
    try:
        for ev in call:
            if ev.type == jp.HEARTBEAT:
                watched["heartbeats"] += 1
                continue
            if ev.object.job_id != cfg["job_id"]:
                continue
            watched["types"].append(jp.EventType.Name(ev.type))
            state = ev.object.status.state
            if not watched["states"] or watched["states"][-1] != state:
                watched["states"].append(state)
            if state == "Succeeded":
                watched["done"].set()
                call.cancel()
                return
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.CANCELLED:
            watched["error"] = str(e)
    watched["done"].set()


threading.Thread(target=watch, daemon=True).start()
alice, amd = stub("alice")
bob, bmd = stub("bob")
parties = [jp.Party(domain_id="alice", role="server"), jp.Party(domain_id="bob", role="client")]
tasks = [
    jp.Task(alias="psi", app_image=cfg["app_image"], parties=parties, task_input_config=cfg["task_input_config"], priority=10),
    jp.Task(alias="train", app_image=cfg["app_image"], parties=parties, task_input_config=cfg["task_input_config"], dependencies=["psi"]),
]
c = ok(alice.CreateJob(jp.CreateJobRequest(job_id=cfg["job_id"], initiator="alice", max_parallelism=1, tasks=tasks, custom_fields={"project": "p1"}), metadata=amd, timeout=20), "CreateJob")
step("CreateJob", job_id=c.data.job_id)
dup = alice.CreateJob(jp.CreateJobRequest(job_id=cfg["job_id"], initiator="alice", tasks=tasks), metadata=amd, timeout=20)
step("CreateJob again", code=dup.status.code)

w = until("bob", "AwaitingApproval")
step("AwaitingApproval at bob", approvals=sorted([a.domain_id, a.state] for a in w.data.status.approve_status_list))
bad = bob.ApproveJob(jp.ApproveJobRequest(job_id=cfg["job_id"]), metadata=bmd, timeout=20)
step("ApproveJob without result", code=bad.status.code, message=bad.status.message)
ok(bob.ApproveJob(jp.ApproveJobRequest(job_id=cfg["job_id"], result=jp.APPROVE_RESULT_ACCEPT), metadata=bmd, timeout=20), "ApproveJob")

for node in ("alice", "bob"):
    q = until(node, "Succeeded")
    step(f"Succeeded at {node}", tasks=[[t.alias, t.state, sorted([p.domain_id, p.state] for p in t.parties)] for t in q.data.status.tasks],
         custom_fields=dict(q.data.custom_fields), initiator=q.data.initiator, end_time=bool(q.data.status.end_time),
         details=[[t.alias, bool(t.create_time), bool(t.start_time), bool(t.end_time)] for t in q.data.status.tasks],
         psi_end_before_train_start=q.data.status.tasks[0].end_time <= q.data.status.tasks[1].start_time)

if not watched["done"].wait(60):
    raise SystemExit(f"WatchJob saw no Succeeded: {watched}")
step("WatchJob", states=watched["states"], first=watched["types"][:1], heartbeats=watched["heartbeats"], error=watched.get("error"))
b = ok(alice.BatchQueryJobStatus(jp.BatchQueryJobStatusRequest(job_ids=[cfg["job_id"]]), metadata=amd, timeout=20), "BatchQueryJobStatus")
step("BatchQueryJobStatus", jobs=[[j.job_id, j.status.state] for j in b.data.jobs])
sus = alice.SuspendJob(jp.SuspendJobRequest(job_id=cfg["job_id"]), metadata=amd, timeout=20)
step("SuspendJob finished", code=sus.status.code, message=sus.status.message)
ok(alice.DeleteJob(jp.DeleteJobRequest(job_id=cfg["job_id"]), metadata=amd, timeout=20), "DeleteJob")
gone = alice.QueryJob(jp.QueryJobRequest(job_id=cfg["job_id"]), metadata=amd, timeout=20)
step("DeleteJob", query_code=gone.status.code)
