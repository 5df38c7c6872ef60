# SecretFlow's own DataMesh client (PyPI kuscia 0.0.3b0, kuscia.datamesh on
# pyarrow.flight), used unchanged against Ferry's DataMesh by
# test/e2e/datamesh-pypi.test.ts. The task's credential reaches it the way it
# reaches a task: through the environment (grpc_proxy), not through code.
# Prints one JSON line per step: {"step", "ok", ...}.
import json
import os
import sys
import traceback

from kuscia.datamesh import api as dm
from kuscia.proto.api.v1alpha1.common_pb2 import DataColumn, FileFormat
from kuscia.proto.api.v1alpha1.datamesh.domaindata_pb2 import DomainData


def out(**kw):
    print(json.dumps(kw), flush=True)


def step(name, fn):
    try:
        res = fn()
        out(step=name, ok=True, result=res)
    except Exception as e:  # the error text is what the test checks
        out(step=name, ok=False, error=str(e)[:2000], trace=traceback.format_exc()[-1500:])


args = json.loads(sys.argv[1])
dm.init(args["address"])
for s in args["steps"]:
    kind = s["do"]
    if kind == "create":
        data = DomainData(
            domaindata_id=s["id"], name=s["id"], type=s.get("type", "table"), relative_uri=s["relative_uri"],
            columns=[DataColumn(name=c["name"], type=c["type"]) for c in s.get("columns", [])],
            vendor="manual",
        )
        step(s["name"], lambda: dm.create_domaindata(data, FileFormat.CSV))
    elif kind == "upload":
        fmt = FileFormat.CSV if s["format"] == "CSV" else FileFormat.BINARY
        step(s["name"], lambda: dm.upload_file(s["id"], s["path"], fmt))
    elif kind == "download":
        fmt = FileFormat.CSV if s["format"] == "CSV" else FileFormat.BINARY
        # kuscia.datamesh removes the CSV output file before writing it: it must exist.
        open(s["path"], "a").close()
        step(s["name"], lambda: dm.download_to_file(s["id"], s["path"], fmt))
