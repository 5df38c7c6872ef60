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
    elif kind in ("schema", "action", "sql"):
        # Kuscia's DataMesh metadata calls on the client's own Flight connection
        # (kuscia 0.0.3b0's flightdm_pb2 predates these commands: they are packed by hand).
        from google.protobuf import any_pb2
        from pyarrow import flight
        from kuscia.proto.api.v1alpha1.datamesh import domaindata_pb2, domaindatasource_pb2

        def packed(type_name, fields):
            body = b""
            for number, value in fields:
                v = value.encode()
                body += bytes([(number << 3) | 2, len(v)]) + v
            a = any_pb2.Any(type_url="type.googleapis.com/kuscia.proto.api.v1alpha1.datamesh." + type_name, value=body)
            return flight.FlightDescriptor.for_command(a.SerializeToString())

        def schema():
            r = dm.new_datamesh_client().get_schema(packed("CommandGetDomainDataSchema", [(1, s["id"])]))
            return [[f.name, str(f.type)] for f in r.schema]

        def sql():
            dm.new_datamesh_client().get_flight_info(packed("CommandDataSourceSqlQuery", [(1, s["source"]), (2, s["sql"])]))

        def action():
            req = {
                "ActionQueryDomainDataSourceRequest": lambda: domaindatasource_pb2.QueryDomainDataSourceRequest(datasource_id=s["source"]),
                "ActionUpdateDomainDataRequest": lambda: domaindata_pb2.UpdateDomainDataRequest(domaindata_id=s["id"], relative_uri="elsewhere.csv"),
                "ActionDeleteDomainDataRequest": lambda: domaindata_pb2.DeleteDomainDataRequest(domaindata_id=s["id"]),
            }[s["type"]]()
            results = list(dm.new_datamesh_client().do_action(flight.Action(s["type"], req.SerializeToString())))
            if s["type"] == "ActionQueryDomainDataSourceRequest":
                resp = domaindatasource_pb2.QueryDomainDataSourceResponse()
                resp.ParseFromString(results[0].body.to_pybytes())
                d = resp.data
                return {"datasource_id": d.datasource_id, "type": d.type, "status": d.status, "localfs": d.info.localfs.path, "db_user": d.info.database.user}
            return len(results)

        step(s["name"], {"schema": schema, "sql": sql, "action": action}[kind])
