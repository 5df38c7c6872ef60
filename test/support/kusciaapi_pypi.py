"""Drives a pair of Ferry nodes with SecretFlow's own KusciaAPI client (PyPI
`kuscia`): its generated gRPC stubs, and over HTTP its messages written and
read with protobuf's json_format, strictly (an unknown field in Ferry's answer
fails the parse). Prints one JSON line per step; exits non-zero on the first
failure. Used by test/e2e/kusciaapi-pypi.test.ts.

argv: JSON {"alice": {"grpc", "http", "token"}, "bob": {...}, "bob_public_port",
            "alice_ca", "bob_ca", "transport": "grpc" | "http", "auth": "MTLS" | "Token"}
"""
import json
import sys
import time
import urllib.request

import grpc
from google.protobuf import json_format
from kuscia.proto.api.v1alpha1.kusciaapi import (
    domain_pb2 as dm,
    domain_pb2_grpc as dm_grpc,
    domain_route_pb2 as dr,
    domain_route_pb2_grpc as dr_grpc,
    health_pb2 as hp,
    health_pb2_grpc as hp_grpc,
)

cfg = json.loads(sys.argv[1])

HTTP_PATHS = {
    "healthZ": "/healthZ",
    "CreateDomain": "/api/v1/domain/create",
    "QueryDomain": "/api/v1/domain/query",
    "BatchQueryDomain": "/api/v1/domain/batchQuery",
    "DeleteDomain": "/api/v1/domain/delete",
    "CreateDomainRoute": "/api/v1/route/create",
    "QueryDomainRoute": "/api/v1/route/query",
    "BatchQueryDomainRouteStatus": "/api/v1/route/status/batchQuery",
    "DeleteDomainRoute": "/api/v1/route/delete",
}
RESPONSES = {
    "healthZ": hp.HealthResponse,
    "CreateDomain": dm.CreateDomainResponse,
    "QueryDomain": dm.QueryDomainResponse,
    "BatchQueryDomain": dm.BatchQueryDomainResponse,
    "DeleteDomain": dm.DeleteDomainResponse,
    "CreateDomainRoute": dr.CreateDomainRouteResponse,
    "QueryDomainRoute": dr.QueryDomainRouteResponse,
    "BatchQueryDomainRouteStatus": dr.BatchQueryDomainRouteStatusResponse,
    "DeleteDomainRoute": dr.DeleteDomainRouteResponse,
}


class Node:
    def __init__(self, c):
        self.c = c
        self.channel = grpc.insecure_channel(c["grpc"])
        self.stubs = {
            "health": hp_grpc.HealthServiceStub(self.channel),
            "domain": dm_grpc.DomainServiceStub(self.channel),
            "route": dr_grpc.DomainRouteServiceStub(self.channel),
        }

    def call(self, method, request):
        if cfg["transport"] == "grpc":
            stub = self.stubs["health" if method == "healthZ" else "route" if "Route" in method else "domain"]
            return getattr(stub, method)(request, metadata=(("token", self.c["token"]),), timeout=20)
        body = json_format.MessageToJson(request, preserving_proto_field_name=True).encode()
        req = urllib.request.Request("http://" + self.c["http"] + HTTP_PATHS[method], data=body, method="POST",
                                     headers={"Content-Type": "application/json", "Token": self.c["token"]})
        with urllib.request.urlopen(req, timeout=20) as res:
            assert res.status == 200, res.status
            text = res.read().decode()
        # Strict: every field Ferry sends must be one of Kuscia's.
        return json_format.Parse(text, RESPONSES[method](), ignore_unknown_fields=False)


def step(step_name, **facts):
    print(json.dumps({"step": step_name, **facts}), flush=True)


def ok(resp, what):
    if resp.status.code != 0:
        raise SystemExit(f"{what}: code {resp.status.code}: {resp.status.message}")
    return resp


alice, bob = Node(cfg["alice"]), Node(cfg["bob"])
auth = cfg["auth"]

h = ok(alice.call("healthZ", hp.HealthRequest()), "healthZ")
step("healthZ", ready=h.data.ready)

# Partner domains both ways (created once; the second run finds them and says so with 11306).
for node, partner, ca in ((alice, "bob", cfg["bob_ca"]), (bob, "alice", cfg["alice_ca"])):
    r = node.call("CreateDomain", dm.CreateDomainRequest(domain_id=partner, role="partner", cert=ca))
    if r.status.code not in (0, 11306):
        raise SystemExit(f"CreateDomain {partner}: {r.status.code} {r.status.message}")
    step("CreateDomain", domain=partner, code=r.status.code)
q = ok(alice.call("QueryDomain", dm.QueryDomainRequest(domain_id="bob")), "QueryDomain")
step("QueryDomain", domain_id=q.data.domain_id, role=q.data.role, has_cert=bool(q.data.cert))
b = ok(alice.call("BatchQueryDomain", dm.BatchQueryDomainRequest(domain_ids=["bob"])), "BatchQueryDomain")
step("BatchQueryDomain", ids=[d.domain_id for d in b.data.domains])

token_config = dr.TokenConfig(token_gen_method="RSA-GEN") if auth == "Token" else None
out = dr.CreateDomainRouteRequest(
    authentication_type=auth, source="alice", destination="bob",
    endpoint=dr.RouteEndpoint(host="127.0.0.1", ports=[dr.EndpointPort(name="https", port=cfg["bob_public_port"], protocol="HTTPS")]),
    token_config=token_config)
c = ok(alice.call("CreateDomainRoute", out), "CreateDomainRoute at alice")
step("CreateDomainRoute", name=c.data.name)
ok(bob.call("CreateDomainRoute", dr.CreateDomainRouteRequest(authentication_type=auth, source="alice", destination="bob", token_config=token_config)), "CreateDomainRoute at bob")
dup = alice.call("CreateDomainRoute", out)
step("CreateDomainRoute again", code=dup.status.code, message=dup.status.message)

deadline = time.monotonic() + 30
while True:
    r = ok(alice.call("QueryDomainRoute", dr.QueryDomainRouteRequest(source="alice", destination="bob")), "QueryDomainRoute")
    if r.data.status.status == "Succeeded":
        break
    if time.monotonic() > deadline:
        raise SystemExit(f"route alice-bob not Succeeded after 30 s: {r.data.status.status}: {r.data.status.reason}")
    time.sleep(0.2)  # polling a readiness signal, bounded by the deadline
step("QueryDomainRoute", name=r.data.name, status=r.data.status.status, reason=r.data.status.reason,
     authentication_type=r.data.authentication_type, port=r.data.endpoint.ports[0].port, isTLS=r.data.endpoint.ports[0].isTLS)
s = ok(alice.call("BatchQueryDomainRouteStatus", dr.BatchQueryDomainRouteStatusRequest(route_keys=[dr.DomainRouteKey(source="alice", destination="bob")])), "BatchQueryDomainRouteStatus")
step("BatchQueryDomainRouteStatus", routes=[[x.name, x.status.status] for x in s.data.routes])

for node in (alice, bob):
    ok(node.call("DeleteDomainRoute", dr.DeleteDomainRouteRequest(source="alice", destination="bob")), "DeleteDomainRoute")
gone = alice.call("QueryDomainRoute", dr.QueryDomainRouteRequest(source="alice", destination="bob"))
step("DeleteDomainRoute", query_code=gone.status.code, message=gone.status.message)
