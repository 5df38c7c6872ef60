"""The PSI task's data through Ferry's DataMesh, with SecretFlow's own client
(PyPI kuscia, kuscia.datamesh on pyarrow.flight), unchanged.

Run by launcher.py as a child process on the PYTHONPATH the AppImage names
(FERRY_DATAMESH_PYTHONPATH: kuscia, pyarrow and numpy 2 next to the engine's
venv, whose jax pins numpy 1). The task's credential reaches the client the
way it reaches any task: DATAMESH_ADDRESS and grpc_proxy in the environment.

  datamesh_io.py fetch  '{"ids": [...], "dir": "..."}'
      downloads, as CSV, each id the task's credential may read (this domain's
      DomainData); the others are the partners' (the DataMesh answers that the
      task does not name them) and are skipped. Prints {"fetched": {id: path},
      "partners": [id...]}.
  datamesh_io.py upload '{"id", "uri", "path", "columns": [...]}'
      creates the DomainData (a CSV table at uri in the default data source)
      and uploads the file into it. Prints {"uploaded": id}.

Exit 0 done, 3 refused or failed (the DataMesh's reason on stderr).
"""

import json
import os
import sys

from kuscia.datamesh import api as dm
from kuscia.proto.api.v1alpha1.common_pb2 import DataColumn, FileFormat
from kuscia.proto.api.v1alpha1.datamesh.domaindata_pb2 import DomainData

# How Ferry's DataMesh says a DomainData is not the task's (control-plane/datamesh/access.ts).
NOT_NAMED = "its task input config names only"


def fetch(args: dict) -> dict:
    fetched, partners = {}, []
    os.makedirs(args["dir"], exist_ok=True)
    for i, ident in enumerate(args["ids"]):
        path = os.path.join(args["dir"], f"input-{i}.csv")
        # kuscia.datamesh removes the output file before it writes it: it must exist.
        open(path, "a").close()
        try:
            dm.download_to_file(ident, path, FileFormat.CSV)
        except Exception as e:  # pyarrow.flight's errors carry the DataMesh's reason
            if NOT_NAMED in str(e):
                partners.append(ident)
                os.remove(path)
                continue
            raise RuntimeError(f"DomainData {ident}: {e}") from None
        fetched[ident] = path
    return {"fetched": fetched, "partners": partners}


def upload(args: dict) -> dict:
    data = DomainData(
        domaindata_id=args["id"], name=args["id"], type="table", relative_uri=args["uri"],
        columns=[DataColumn(name=c, type="str") for c in args["columns"]], vendor="secretflow-psi",
    )
    try:
        dm.create_domaindata(data, FileFormat.CSV)
        dm.upload_file(args["id"], args["path"], FileFormat.CSV)
    except Exception as e:
        raise RuntimeError(f"DomainData {args['id']}: {e}") from None
    return {"uploaded": args["id"]}


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in ("fetch", "upload"):
        print("usage: datamesh_io.py fetch|upload '<json>'", file=sys.stderr)
        return 2
    address = os.environ.get("DATAMESH_ADDRESS")
    if not address:
        print("DATAMESH_ADDRESS: not set (Ferry's runtime sets it for every task)", file=sys.stderr)
        return 2
    dm.init(address)
    try:
        out = (fetch if sys.argv[1] == "fetch" else upload)(json.loads(sys.argv[2]))
    except Exception as e:
        print(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__, file=sys.stderr, flush=True)
        return 3
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
