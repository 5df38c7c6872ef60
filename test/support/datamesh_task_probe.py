# A task for test/e2e/psi-job.test.ts: run by Ferry's runtime like the PSI
# engine (its AppImage, the kuscia client on FERRY_DATAMESH_PYTHONPATH), it
# reads through the DataMesh with its own credential the DomainData its task
# input config names (sf_input_ids) and one it does not (probe_also), and
# prints one JSON line per step, then its credential's token and the HTTP
# address so the test can check the token is dead once the task has ended.
import json
import os
import sys

sys.path.insert(0, os.environ.get("FERRY_DATAMESH_PYTHONPATH", ""))
from kuscia.datamesh import api as dm  # noqa: E402
from kuscia.proto.api.v1alpha1.common_pb2 import FileFormat  # noqa: E402


def out(**kw):
    print(json.dumps(kw), flush=True)


cfg = json.loads(os.environ["TASK_INPUT_CONFIG"])
dm.init(os.environ["DATAMESH_ADDRESS"])
for step, ident in (("named", cfg["sf_input_ids"][0]), ("unnamed", cfg["probe_also"])):
    path = os.path.abspath(f"{step}.csv")
    open(path, "a").close()
    try:
        dm.download_to_file(ident, path, FileFormat.CSV)
        with open(path, encoding="utf-8") as f:
            out(step=step, ok=True, rows=sum(1 for _ in f) - 1)
    except Exception as e:  # the DataMesh's reason is the test's subject
        out(step=step, ok=False, error=str(e)[:1000])
out(step="env", token=os.environ["FERRY_DATAMESH_TOKEN"], http=os.environ["FERRY_DATAMESH_HTTP"])
