"""The PSI task's data (launcher.py): files when the engine runs alone, or
DomainData through the node's DataMesh (datamesh_io.py, PyPI kuscia's
client, run as a child process on FERRY_DATAMESH_PYTHONPATH) under Ferry."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

from task_config import ConfigError, enum, field, check_fields


def absolute_file(io, where: str, must_exist: bool) -> str:
    io = check_fields(io if io is not None else {}, {"type", "path"}, where)
    enum(field(io, "type", where), ("IO_TYPE_FILE_CSV",), f"{where}.type", "IO_TYPE_FILE_CSV")
    path = field(io, "path", where)
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{where}.path: give the CSV file's path")
    # spu wants absolute paths; a relative one is under the task's working directory.
    path = os.path.abspath(path)
    if must_exist and not os.path.isfile(path):
        raise ConfigError(f"{where}.path: {path} is not a readable file")
    if not must_exist and not os.path.isdir(os.path.dirname(path)):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def writable_place(path: str) -> str:
    """spu writes <input>.temp.csv beside its input: an input in a directory this
    task may not write (a root node runs tasks as their own user) is read
    through a link in the task's directory instead."""
    if os.access(os.path.dirname(path), os.W_OK):
        return path
    os.makedirs("input", exist_ok=True)
    link = os.path.abspath(os.path.join("input", os.path.basename(path)))
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(path, link)
    return link


def check_keys(inp: str, keys: list, what: str, where: str, label: str | None = None) -> None:
    """The key columns are in the input's header; `label` names the input (its path by default)."""
    try:
        with open(inp, newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), [])
    except OSError as e:
        raise ConfigError(f"{what}: cannot read {inp} ({e.strerror})") from None
    missing = [k for k in keys if k not in header]
    if missing:
        raise ConfigError(f"{where}.keys: {', '.join(missing)} not in {label or inp}'s header ({', '.join(header)})")


def domain_data(task: dict, cfg: dict, names: list[str], where: str):
    """The DomainData ids this party reads and writes through the DataMesh; None without a DataMesh."""
    ids = field(cfg, "sf_input_ids", "TASK_INPUT_CONFIG")
    if not task.get("datamesh"):
        if ids is not None:
            raise ConfigError("TASK_INPUT_CONFIG.sf_input_ids: DomainData are read through the DataMesh, and this task has none (DATAMESH_ADDRESS is not set; Ferry's runtime sets it)")
        return None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise ConfigError('TASK_INPUT_CONFIG.sf_input_ids: give the DomainData the PSI reads, each party\'s (e.g. ["alice-table", "bob-table"])')
    outs = field(cfg, "sf_output_ids", "TASK_INPUT_CONFIG") or []
    uris = field(cfg, "sf_output_uris", "TASK_INPUT_CONFIG") or []
    if not isinstance(outs, list) or not all(isinstance(o, str) and o for o in outs) or not isinstance(uris, list):
        raise ConfigError("TASK_INPUT_CONFIG.sf_output_ids: give a list of DomainData ids, one per party or one for all (sf_output_uris alike)")
    # The task's party order (TASK_CLUSTER_DEFINE), as Ferry's runtime scopes the credential.
    order = [p.get("name") for p in task["cluster"]["parties"]]
    i = 0 if len(outs) == 1 else order.index(task["domain"]) if len(outs) == len(order) else -1
    if outs and i < 0:
        raise ConfigError(f"TASK_INPUT_CONFIG.sf_output_ids: {len(outs)} ids for {len(order)} parties; give one per party (in the task's party order) or one")
    out = outs[i] if outs else None
    uri = uris[i] if out and i < len(uris) and isinstance(uris[i], str) and uris[i] else (f"{out}.csv" if out else None)
    return {"inputs": ids, "output": out, "output_uri": uri}


def datamesh_call(env: dict, verb: str, args: dict) -> dict:
    """One call of datamesh_io.py (PyPI kuscia's client) with the task's environment; its error is the DataMesh's reason."""
    child_env = dict(env)
    if env.get("FERRY_DATAMESH_PYTHONPATH"):
        child_env["PYTHONPATH"] = env["FERRY_DATAMESH_PYTHONPATH"]
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "datamesh_io.py")
    r = subprocess.run([sys.executable, script, verb, json.dumps(args)], env=child_env, capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        raise DataMeshError(f"DataMesh {verb}: {(r.stderr.strip().splitlines() or ['exit ' + str(r.returncode)])[-1]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


class DataMeshError(Exception):
    pass
