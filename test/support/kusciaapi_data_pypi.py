"""Drives two Ferry nodes' DataMesh services with SecretFlow's own KusciaAPI
client (PyPI `kuscia`): its generated stubs over gRPC, or over HTTP its
messages written and read with protobuf's json_format, strictly (an unknown
field in Ferry's answer fails the parse). alice makes a data source, a
DomainData and a grant for bob; bob's node receives the grant, signed by
alice, and answers it through KusciaAPI too. Prints one JSON line per step;
exits non-zero on the first failure. Used by test/e2e/kusciaapi-data-pypi.test.ts.

argv: JSON {"alice": {"grpc", "http", "token"}, "bob": {...}, "transport": "grpc" | "http", "data_dir"}
"""
import json
import sys
import time
import urllib.request

import grpc
from google.protobuf import json_format
from kuscia.proto.api.v1alpha1 import common_pb2 as cm
from kuscia.proto.api.v1alpha1.kusciaapi import (
    domaindata_pb2 as dd,
    domaindata_pb2_grpc as dd_grpc,
    domaindatagrant_pb2 as dg,
    domaindatagrant_pb2_grpc as dg_grpc,
    domaindatasource_pb2 as ds,
    domaindatasource_pb2_grpc as ds_grpc,
)

cfg = json.loads(sys.argv[1])
T = cfg["transport"]

# method -> (stub key, HTTP path, response type)
CALLS = {
    "CreateDomainDataSource": ("ds", "/api/v1/domaindatasource/create", ds.CreateDomainDataSourceResponse),
    "QueryDomainDataSource": ("ds", "/api/v1/domaindatasource/query", ds.QueryDomainDataSourceResponse),
    "UpdateDomainDataSource": ("ds", "/api/v1/domaindatasource/update", ds.UpdateDomainDataSourceResponse),
    "ListDomainDataSource": ("ds", "/api/v1/domaindatasource/list", ds.ListDomainDataSourceResponse),
    "DeleteDomainDataSource": ("ds", "/api/v1/domaindatasource/delete", ds.DeleteDomainDataSourceResponse),
    "CreateDomainData": ("dd", "/api/v1/domaindata/create", dd.CreateDomainDataResponse),
    "QueryDomainData": ("dd", "/api/v1/domaindata/query", dd.QueryDomainDataResponse),
    "UpdateDomainData": ("dd", "/api/v1/domaindata/update", dd.UpdateDomainDataResponse),
    "ListDomainData": ("dd", "/api/v1/domaindata/list", dd.ListDomainDataResponse),
    "BatchQueryDomainData": ("dd", "/api/v1/domaindata/batchQuery", dd.BatchQueryDomainDataResponse),
    "DeleteDomainData": ("dd", "/api/v1/domaindata/delete", dd.DeleteDomainDataResponse),
    "CreateDomainDataGrant": ("dg", "/api/v1/domaindatagrant/create", dg.CreateDomainDataGrantResponse),
    "QueryDomainDataGrant": ("dg", "/api/v1/domaindatagrant/query", dg.QueryDomainDataGrantResponse),
    "UpdateDomainDataGrant": ("dg", "/api/v1/domaindatagrant/update", dg.UpdateDomainDataGrantResponse),
    "ListDomainDataGrant": ("dg", "/api/v1/domaindatagrant/list", dg.ListDomainDataGrantResponse),
    "BatchQueryDomainDataGrant": ("dg", "/api/v1/domaindatagrant/batchQuery", dg.BatchQueryDomainDataGrantResponse),
    "DeleteDomainDataGrant": ("dg", "/api/v1/domaindatagrant/delete", dg.DeleteDomainDataGrantResponse),
}


class Node:
    def __init__(self, c):
        self.c = c
        ch = grpc.insecure_channel(c["grpc"])
        self.stubs = {"ds": ds_grpc.DomainDataSourceServiceStub(ch), "dd": dd_grpc.DomainDataServiceStub(ch), "dg": dg_grpc.DomainDataGrantServiceStub(ch)}

    def call(self, method, request):
        stub, path, response = CALLS[method]
        if T == "grpc":
            return getattr(self.stubs[stub], method)(request, metadata=(("token", self.c["token"]),), timeout=20)
        body = json_format.MessageToJson(request, preserving_proto_field_name=True).encode()
        req = urllib.request.Request("http://" + self.c["http"] + path, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "Token": self.c["token"]})
        with urllib.request.urlopen(req, timeout=20) as res:
            assert res.status == 200, res.status
            text = res.read().decode()
        return json_format.Parse(text, response(), ignore_unknown_fields=False)


def step(step_name, **facts):
    print(json.dumps({"step": step_name, **facts}), flush=True)


def ok(resp, what):
    if resp.status.code != 0:
        raise SystemExit(f"{what}: code {resp.status.code}: {resp.status.message}")
    return resp


def until(what, probe, seconds=30):
    deadline = time.monotonic() + seconds
    while True:
        r = probe()
        if r is not None:
            return r
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not after {seconds} s")
        time.sleep(0.2)  # polling a readiness signal, bounded by the deadline


alice, bob = Node(cfg["alice"]), Node(cfg["bob"])
src, db, data_id = f"files-{T}", f"warehouse-{T}", f"orders-{T}"

r = ok(alice.call("CreateDomainDataSource", ds.CreateDomainDataSourceRequest(domain_id="alice", datasource_id=src, type="localfs", name="Files",
       info=ds.DataSourceInfo(localfs=ds.LocalDataSourceInfo(path=cfg["data_dir"])))), "CreateDomainDataSource localfs")
step("CreateDomainDataSource", id=r.data.datasource_id)
ok(alice.call("CreateDomainDataSource", ds.CreateDomainDataSourceRequest(domain_id="alice", datasource_id=db, type="postgresql",
   info=ds.DataSourceInfo(database=ds.DatabaseDataSourceInfo(endpoint="127.0.0.1:1", user="ferry", password="pa55-secret", database="sales")))), "CreateDomainDataSource postgresql")
q = ok(alice.call("QueryDomainDataSource", ds.QueryDomainDataSourceRequest(domain_id="alice", datasource_id=db)), "QueryDomainDataSource")
step("QueryDomainDataSource", type=q.data.type, endpoint=q.data.info.database.endpoint, user=q.data.info.database.user, password=q.data.info.database.password)
ok(alice.call("UpdateDomainDataSource", ds.UpdateDomainDataSourceRequest(domain_id="alice", datasource_id=db, access_directly=True)), "UpdateDomainDataSource")
lst = ok(alice.call("ListDomainDataSource", ds.ListDomainDataSourceRequest(domain_id="alice")), "ListDomainDataSource")
step("ListDomainDataSource", ids=sorted(s.datasource_id for s in lst.data.datasource_list),
     access_directly=[s.access_directly for s in lst.data.datasource_list if s.datasource_id == db][0])
e = alice.call("CreateDomainDataSource", ds.CreateDomainDataSourceRequest(domain_id="alice", datasource_id="x", type="localfs"))
step("CreateDomainDataSource without info", code=e.status.code, message=e.status.message)

cols = [cm.DataColumn(name="id", type="str"), cm.DataColumn(name="qty", type="int", not_nullable=True)]
c = ok(alice.call("CreateDomainData", dd.CreateDomainDataRequest(domain_id="alice", domaindata_id=data_id, type="table", relative_uri="sales/orders.csv",
       datasource_id=src, columns=cols, file_format=cm.CSV, attributes={"owner": "sales"})), "CreateDomainData")
ok(alice.call("UpdateDomainData", dd.UpdateDomainDataRequest(domain_id="alice", domaindata_id=data_id, vendor="secretflow")), "UpdateDomainData")
q = ok(alice.call("QueryDomainData", dd.QueryDomainDataRequest(data=dd.QueryDomainDataRequestData(domain_id="alice", domaindata_id=data_id))), "QueryDomainData")
step("QueryDomainData", id=q.data.domaindata_id, name=q.data.name, relative_uri=q.data.relative_uri, datasource_id=q.data.datasource_id,
     columns=[[x.name, x.type, x.not_nullable] for x in q.data.columns], vendor=q.data.vendor, file_format=cm.FileFormat.Name(q.data.file_format),
     author=q.data.author, status=q.data.status)
lst = ok(alice.call("ListDomainData", dd.ListDomainDataRequest(data=dd.ListDomainDataRequestData(domain_id="alice", domaindata_vendor="secretflow"))), "ListDomainData")
step("ListDomainData", ids=[x.domaindata_id for x in lst.data.domaindata_list])
e = alice.call("QueryDomainData", dd.QueryDomainDataRequest(data=dd.QueryDomainDataRequestData(domain_id="alice", domaindata_id="gone")))
step("QueryDomainData gone", code=e.status.code, message=e.status.message)

g = ok(alice.call("CreateDomainDataGrant", dg.CreateDomainDataGrantRequest(domain_id="alice", domaindata_id=data_id, grant_domain="bob",
       limit=dg.GrantLimit(expiration_time=4070908800 * 10**9, use_count=2, initiator="bob"), description={"purpose": "psi"})), "CreateDomainDataGrant")
gid = g.data.domaindatagrant_id
qa = ok(alice.call("QueryDomainDataGrant", dg.QueryDomainDataGrantRequest(domain_id="alice", domaindatagrant_id=gid)), "QueryDomainDataGrant at alice")
step("QueryDomainDataGrant", id=gid, author=qa.data.data.author, expiration_time=qa.data.data.limit.expiration_time, use_count=qa.data.data.limit.use_count,
     has_signature=bool(qa.data.data.signature))
e = alice.call("CreateDomainDataGrant", dg.CreateDomainDataGrantRequest(domain_id="alice", domaindata_id="nothing", grant_domain="bob"))
step("CreateDomainDataGrant on nothing", code=e.status.code, message=e.status.message)


def at_bob():
    r = bob.call("QueryDomainDataGrant", dg.QueryDomainDataGrantRequest(domain_id="bob", domaindatagrant_id=gid))
    return r if r.status.code == 0 and r.data.status.phase == "Ready" else None


qb = until("the grant Ready at bob", at_bob)
step("grant at bob", author=qb.data.data.author, phase=qb.data.status.phase, same_signature=qb.data.data.signature == qa.data.data.signature,
     expiration_time=qb.data.data.limit.expiration_time)
lb = ok(bob.call("ListDomainDataGrant", dg.ListDomainDataGrantRequest(data=dg.ListDomainDataGrantRequestData(domain_id="bob", grant_domain="bob"))), "ListDomainDataGrant at bob")
step("ListDomainDataGrant at bob", ids=[x.data.domaindatagrant_id for x in lb.data.domaindatagrant_list])

ok(alice.call("DeleteDomainDataGrant", dg.DeleteDomainDataGrantRequest(domain_id="alice", domaindatagrant_id=gid)), "DeleteDomainDataGrant")
gone = until("the grant gone at bob", lambda: (lambda r: r if r.status.code != 0 else None)(
    bob.call("QueryDomainDataGrant", dg.QueryDomainDataGrantRequest(domain_id="bob", domaindatagrant_id=gid))))
step("grant revoked at bob", code=gone.status.code)

ok(alice.call("DeleteDomainData", dd.DeleteDomainDataRequest(domain_id="alice", domaindata_id=data_id)), "DeleteDomainData")
for s in (src, db):
    ok(alice.call("DeleteDomainDataSource", ds.DeleteDomainDataSourceRequest(domain_id="alice", datasource_id=s)), "DeleteDomainDataSource")
lst = ok(alice.call("ListDomainDataSource", ds.ListDomainDataSourceRequest(domain_id="alice")), "ListDomainDataSource")
step("deleted", sources=sorted(s.datasource_id for s in lst.data.datasource_list))
