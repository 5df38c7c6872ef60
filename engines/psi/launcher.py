"""Runs SecretFlow's PSI (spu 0.9.5's libpsi) as a Ferry task.

Reads what Ferry's RunP runtime gives a task, with Kuscia's names:
  KUSCIA_DOMAIN_ID, TASK_ID,
  TASK_CLUSTER_DEFINE  {"parties":[{"name","role","services":[{"portName","endpoints"}]}],"selfPartyIdx"}
  ALLOCATED_PORTS      {"ports":[{"name","port","protocol","scope"}]}
  TASK_INPUT_CONFIG    Kuscia's PSI task input config:
                       {"sf_psi_config_map": {"<domain>": {"psi_config": {...}, "link_config": {...}}}}
or the same four as Kuscia's task-config.conf (`launcher.py --kuscia FILE`,
keys task_id, task_cluster_def, allocated_ports, task_input_config).

The link is brpc over HTTP on the port named "psi": this party listens on
127.0.0.1:<its allocated psi port>, and dials each partner at the endpoint the
cluster define gives for the partner's "psi" port (under Ferry a local port of
the node's internal listener mapped to the partner's Service). Field names of
psi_config follow secretflow/psi's psi.v2.PsiConfig, in snake_case or
lowerCamelCase as protobuf's JSON allows.

Data: under Ferry (DATAMESH_ADDRESS set, as the runtime does for every task)
the input is a DomainData and the result becomes one, through the DataMesh
with the task's own credential, as Kuscia's engines do: TASK_INPUT_CONFIG's
`sf_input_ids` names the DomainData (this party reads those of its own
domain: the others are its partners'), `sf_output_ids` / `sf_output_uris`
the result's DomainData and relative URI (one per party in the task's party
order, or one for all). The input is downloaded to the task's directory for
spu, the result uploaded (datamesh_io.py, PyPI kuscia's client). Without a
DataMesh (the engine run alone, test/e2e/psi-engine.test.ts) psi_config's
input_config.path / output_config.path are files, as in psi.v2.

Exit status: 0 done, 2 bad configuration (nothing run), 1 the PSI failed
(or the DataMesh refused its data; the reason is in the log).
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time

from task_config import ConfigError, camel, check_fields, enum, field, parse_json
from task_data import DataMeshError, absolute_file, check_keys, datamesh_call, domain_data, writable_place

PORT_NAME = "psi"

# Link settings a task may tune (yacl's ContextDescProto names); the parties,
# protocol and connection type come from Ferry, not from the task.
LINK_FIELDS = {
    "connect_retry_times": 60,
    "connect_retry_interval_ms": 1000,
    "recv_timeout_ms": 1_200_000,
    "http_timeout_ms": 1_200_000,
    "http_max_payload_size": None,
    "throttle_window_size": None,
}
PROTOCOLS = ("PROTOCOL_ECDH", "PROTOCOL_KKRT", "PROTOCOL_RR22")
CURVES = ("CURVE_25519", "CURVE_FOURQ", "CURVE_SM2", "CURVE_SECP256K1", "CURVE_25519_ELLIGATOR2")
JOINS = {
    "ADVANCED_JOIN_TYPE_UNSPECIFIED": "JOIN_TYPE_INNER_JOIN",
    "ADVANCED_JOIN_TYPE_INNER_JOIN": "JOIN_TYPE_INNER_JOIN",
    "ADVANCED_JOIN_TYPE_LEFT_JOIN": "JOIN_TYPE_LEFT_JOIN",
    "ADVANCED_JOIN_TYPE_RIGHT_JOIN": "JOIN_TYPE_RIGHT_JOIN",
    "ADVANCED_JOIN_TYPE_FULL_JOIN": "JOIN_TYPE_FULL_JOIN",
    "ADVANCED_JOIN_TYPE_DIFFERENCE": "JOIN_TYPE_DIFFERENCE",
}
# psi_config fields this launcher reads; the others psi.v2 knows are refused by name.
PSI_FIELDS = {
    "protocol_config", "input_config", "output_config", "keys", "debug_options",
    "disable_alignment", "recovery_config", "advanced_join_type", "left_side",
    "check_hash_digest", "input_attr", "output_attr",
}
PSI_UNSUPPORTED = {"intersection_threshold", "count_path"}


def say(msg: str) -> None:
    print(f"psi: {msg}", flush=True)


def read_task(argv: list[str], env: dict) -> dict:
    """The task's four inputs, from the environment or a Kuscia task-config.conf."""
    if len(argv) >= 2 and argv[0] == "--kuscia":
        try:
            with open(argv[1], encoding="utf-8") as f:
                conf = parse_json(f.read(), argv[1])
        except OSError as e:
            raise ConfigError(f"--kuscia {argv[1]}: cannot read ({e.strerror})") from None
        cd = parse_json(conf.get("task_cluster_def"), "task_cluster_def")
        self_name = cd["parties"][cd["selfPartyIdx"]]["name"] if isinstance(cd, dict) and "parties" in cd else None
        return {
            "datamesh": env.get("DATAMESH_ADDRESS"),
            "domain": env.get("KUSCIA_DOMAIN_ID") or self_name,
            "task_id": conf.get("task_id"),
            "cluster": cd,
            "ports": parse_json(conf.get("allocated_ports"), "allocated_ports"),
            "input": parse_json(conf.get("task_input_config"), "task_input_config"),
        }
    if argv:
        raise ConfigError(f"arguments: unknown {' '.join(argv)!r} (give none, or --kuscia <task-config.conf>)")
    return {
        "datamesh": env.get("DATAMESH_ADDRESS"),
        "domain": env.get("KUSCIA_DOMAIN_ID"),
        "task_id": env.get("TASK_ID"),
        "cluster": parse_json(env.get("TASK_CLUSTER_DEFINE"), "TASK_CLUSTER_DEFINE"),
        "ports": parse_json(env.get("ALLOCATED_PORTS"), "ALLOCATED_PORTS"),
        "input": parse_json(env.get("TASK_INPUT_CONFIG"), "TASK_INPUT_CONFIG"),
    }


def link_parties(task: dict) -> tuple[list[tuple[str, str]], int]:
    """[(party, host:port)] in name order (every party derives the same ranks) and this party's rank."""
    domain, cluster = task["domain"], task["cluster"]
    if not domain:
        raise ConfigError("KUSCIA_DOMAIN_ID: not set (Ferry's runtime sets it for every task)")
    if not task["task_id"]:
        raise ConfigError("TASK_ID: not set (Ferry's runtime sets it for every task)")
    parties = cluster.get("parties") if isinstance(cluster, dict) else None
    if not isinstance(parties, list) or len(parties) < 2:
        raise ConfigError("TASK_CLUSTER_DEFINE.parties: give the task's parties (two for ECDH, KKRT, RR22)")
    idx = cluster.get("selfPartyIdx", 0)
    if not isinstance(idx, int) or not 0 <= idx < len(parties):
        raise ConfigError(f"TASK_CLUSTER_DEFINE.selfPartyIdx: {idx!r} is not an index into parties")
    if parties[idx].get("name") != domain:
        raise ConfigError(f"TASK_CLUSTER_DEFINE.selfPartyIdx: names {parties[idx].get('name')!r}, but KUSCIA_DOMAIN_ID is {domain!r}")

    ports = task["ports"].get("ports") if isinstance(task["ports"], dict) else None
    mine = [p for p in ports or [] if isinstance(p, dict) and p.get("name") == PORT_NAME]
    if not mine or not isinstance(mine[0].get("port"), int):
        raise ConfigError(f'ALLOCATED_PORTS: no port named "{PORT_NAME}" (the AppImage must declare ports: [{{name: {PORT_NAME}, protocol: HTTP, scope: Cluster}}])')

    hosts: dict[str, str] = {}
    for i, p in enumerate(parties):
        name = p.get("name")
        if not name or name in hosts:
            raise ConfigError(f"TASK_CLUSTER_DEFINE.parties[{i}].name: {'missing' if not name else f'{name!r} twice'}")
        if i == idx:
            # Loopback only: partners reach this port through Ferry, never directly.
            hosts[name] = f"127.0.0.1:{mine[0]['port']}"
            continue
        svc = [s for s in p.get("services") or [] if s.get("portName") == PORT_NAME]
        endpoints = svc[0].get("endpoints") if svc else None
        if not endpoints:
            raise ConfigError(f'TASK_CLUSTER_DEFINE.parties[{i}] ({name}): no endpoint for port "{PORT_NAME}" (its AppImage must declare a Cluster-scope port named "{PORT_NAME}")')
        ep = endpoints[0].removeprefix("http://")
        host, _, port = ep.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"TASK_CLUSTER_DEFINE.parties[{i}] ({name}).services[{PORT_NAME}].endpoints[0]: {endpoints[0]!r} is not host:port")
        hosts[name] = ep
    order = sorted(hosts)
    return [(n, hosts[n]) for n in order], order.index(domain)


def psi_plan(task: dict, names: list[str], rank: int) -> dict:
    """Kuscia's PSI task input config for this party, checked, as plain values for spu."""
    domain = task["domain"]
    cfg = task["input"]
    if not isinstance(cfg, dict):
        raise ConfigError("TASK_INPUT_CONFIG: must be a JSON object {\"sf_psi_config_map\": {...}}")
    check_fields(cfg, {"sf_psi_config_map", "sf_input_ids", "sf_output_ids", "sf_output_uris", "sf_datasource_config"}, "TASK_INPUT_CONFIG")
    by_party = field(cfg, "sf_psi_config_map", "TASK_INPUT_CONFIG")
    if not isinstance(by_party, dict) or domain not in by_party:
        raise ConfigError(f'TASK_INPUT_CONFIG.sf_psi_config_map: no entry for this party "{domain}" (one per party: {{"{domain}": {{"psi_config": {{...}}}}}})')
    for other in by_party:
        if other not in names:
            raise ConfigError(f"TASK_INPUT_CONFIG.sf_psi_config_map.{other}: not a party of this task ({', '.join(names)})")
    if len(names) != 2:
        raise ConfigError(f"TASK_CLUSTER_DEFINE.parties: ECDH, KKRT and RR22 are 2-party protocols; this task has {len(names)}")
    where = f"TASK_INPUT_CONFIG.sf_psi_config_map.{domain}"
    entry = check_fields(by_party[domain], {"psi_config", "link_config", "self_link_party"}, where)
    psi = field(entry, "psi_config", where)
    if psi is None:
        raise ConfigError(f"{where}.psi_config: required (this launcher runs 2-party PSI v2; ub_psi, PIR and legacy configs are not supported)")
    where += ".psi_config"
    for k in list(psi) if isinstance(psi, dict) else []:
        if k in PSI_UNSUPPORTED or k in {camel(u) for u in PSI_UNSUPPORTED}:
            raise ConfigError(f"{where}.{k}: not supported by spu 0.9.5's psi_execute; remove it")
    check_fields(psi, PSI_FIELDS, where)

    pc = check_fields(field(psi, "protocol_config", where) or {}, {"protocol", "role", "broadcast_result", "ecdh_config", "kkrt_config", "rr22_config"}, f"{where}.protocol_config")
    protocol = field(pc, "protocol", where)
    if protocol not in PROTOCOLS:
        raise ConfigError(f"{where}.protocol_config.protocol: {protocol!r}; give one of {', '.join(PROTOCOLS)}")
    role = enum(field(pc, "role", where), ("ROLE_RECEIVER", "ROLE_SENDER"), f"{where}.protocol_config.role", "")
    if not role:
        raise ConfigError(f"{where}.protocol_config.role: give ROLE_RECEIVER or ROLE_SENDER")
    other = names[1 - rank]
    receiver_rank = rank if role == "ROLE_RECEIVER" else 1 - rank
    # The partner's entry, when the task input config carries it, must agree.
    peer = by_party.get(other)
    peer_psi = field(peer, "psi_config", other) if isinstance(peer, dict) else None
    if isinstance(peer_psi, dict) and isinstance(field(peer_psi, "protocol_config", other), dict):
        ppc = field(peer_psi, "protocol_config", other)
        if field(ppc, "protocol", other) not in (None, protocol):
            raise ConfigError(f"TASK_INPUT_CONFIG.sf_psi_config_map: {domain} runs {protocol} but {other} runs {field(ppc, 'protocol', other)}; give both the same protocol")
        if field(ppc, "role", other) == role:
            raise ConfigError(f"TASK_INPUT_CONFIG.sf_psi_config_map: {domain} and {other} are both {role}; give one ROLE_RECEIVER and one ROLE_SENDER")

    ecdh = check_fields(field(pc, "ecdh_config", where) or {}, {"curve", "batch_size"}, f"{where}.protocol_config.ecdh_config")
    rr22 = check_fields(field(pc, "rr22_config", where) or {}, {"bucket_size", "low_comm_mode"}, f"{where}.protocol_config.rr22_config")
    kkrt = check_fields(field(pc, "kkrt_config", where) or {}, {"bucket_size"}, f"{where}.protocol_config.kkrt_config")
    bucket = field(rr22 if protocol == "PROTOCOL_RR22" else kkrt, "bucket_size", where) or (1 << 20)

    keys = field(psi, "keys", where)
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
        raise ConfigError(f"{where}.keys: give the key columns, e.g. [\"id\"]")
    data = domain_data(task, cfg, names, where)
    if data is None:
        inp = writable_place(absolute_file(field(psi, "input_config", where), f"{where}.input_config", must_exist=True))
        out = absolute_file(field(psi, "output_config", where), f"{where}.output_config", must_exist=False)
        check_keys(inp, keys, f"{where}.input_config.path", where)
    else:
        for io in ("input_config", "output_config"):
            given = field(psi, io, where)
            if isinstance(given, dict) and field(given, "path", where):
                raise ConfigError(f"{where}.{io}.path: under Ferry the PSI's data goes through the DataMesh; name DomainData in TASK_INPUT_CONFIG.{'sf_input_ids' if io == 'input_config' else 'sf_output_ids'} instead of a path")
        inp = None  # downloaded from the DataMesh once the configuration is checked
        out = os.path.abspath(os.path.join("output", "result.csv"))
        os.makedirs(os.path.dirname(out), exist_ok=True)

    join = enum(field(psi, "advanced_join_type", where), tuple(JOINS), f"{where}.advanced_join_type", "ADVANCED_JOIN_TYPE_UNSPECIFIED")
    left = enum(field(psi, "left_side", where), ("ROLE_RECEIVER", "ROLE_SENDER"), f"{where}.left_side", "ROLE_RECEIVER")
    recovery = field(psi, "recovery_config", where) or {}
    out_attr = field(psi, "output_attr", where) or {}
    link = check_fields(field(entry, "link_config", where) or {}, set(LINK_FIELDS), f"{where[:-len('.psi_config')]}.link_config")
    return {
        "protocol": protocol,
        "receiver_rank": receiver_rank,
        "broadcast_result": bool(field(pc, "broadcast_result", where)),
        "curve": enum(field(ecdh, "curve", where), CURVES, f"{where}.protocol_config.ecdh_config.curve", "CURVE_25519"),
        "batch_size": field(ecdh, "batch_size", where) or 4096,
        "bucket_size": bucket,
        "low_comm_mode": bool(field(rr22, "low_comm_mode", where)),
        "input": inp,
        "output": out,
        "keys": keys,
        "keys_unique": bool(field(field(psi, "input_attr", where) or {}, "keys_unique", where)),
        "disable_alignment": bool(field(psi, "disable_alignment", where)),
        "csv_null_rep": field(out_attr, "csv_null_rep", where) or "NULL",
        "join": JOINS[join],
        "left_side_rank": receiver_rank if left == "ROLE_RECEIVER" else 1 - receiver_rank,
        "recovery": bool(field(recovery, "enabled", where)),
        "recovery_folder": field(recovery, "folder", where) or "",
        "link": {k: field(link, k, "link_config", d) for k, d in LINK_FIELDS.items()},
        "datamesh": data,
        "where": where,
    }


def run(task: dict, parties: list[tuple[str, str]], rank: int, plan: dict) -> dict:
    import spu.libspu as libspu  # imported late: a bad config fails fast, without jax
    import spu.psi as psi

    desc = libspu.link.Desc()
    desc.id = task["task_id"]
    for name, host in parties:
        desc.add_party(name, host)
    # brpc over HTTP so the link crosses Ferry's HTTP gateways; brpc refuses
    # http with its default connection type "single".
    desc.brpc_channel_protocol = "http"
    desc.brpc_channel_connection_type = "pooled"
    for k, v in plan["link"].items():
        if v is not None:
            setattr(desc, k, int(v))

    conf = psi.PsiExecuteConfig(
        protocol_conf=psi.PsiProtocolConfig(
            protocol=psi.parse_protocol(plan["protocol"]),
            receiver_rank=plan["receiver_rank"],
            bucket_size=int(plan["bucket_size"]),
            broadcast_result=plan["broadcast_result"],
            ecdh_params=psi.EcdhParams(curve=psi.parse_curve_type(plan["curve"]), batch_size=int(plan["batch_size"])),
            rr22_params=psi.Rr22Rarams(low_comm_mode=plan["low_comm_mode"]),
        ),
        input_params=psi.InputParams(type=psi.SourceType.SOURCE_TYPE_FILE_CSV, path=plan["input"], selected_keys=plan["keys"], keys_unique=plan["keys_unique"]),
        output_params=psi.OutputParams(type=psi.SourceType.SOURCE_TYPE_FILE_CSV, path=plan["output"], disable_alignment=plan["disable_alignment"], csv_null_rep=plan["csv_null_rep"]),
        join_conf=psi.ResultJoinConfig(type=psi.parse_join_type(plan["join"]), left_side_rank=plan["left_side_rank"]),
        checkpoint_conf=psi.CheckpointConfig(enable=plan["recovery"], path=plan["recovery_folder"]),
    )

    def progress(p) -> None:
        say(f"progress {p.percentage}% {p.description} ({p.finished}/{p.total})")

    say(f"link {desc.id}: {', '.join(f'{n}@{h}' for n, h in parties)}; I am {parties[rank][0]} (rank {rank})")
    t0 = time.monotonic()
    lctx = libspu.link.create_brpc(desc, rank)
    try:
        say(f"link up in {time.monotonic() - t0:.1f}s; running {plan['protocol']}")
        t1 = time.monotonic()
        report = psi.psi_execute(conf, lctx, psi.ProgressParams(hook=progress, interval_ms=2000))
        execute_seconds = round(time.monotonic() - t1, 2)
        say(f"psi_execute took {execute_seconds:.1f}s")
    finally:
        lctx.stop_link()
    return {
        "original_count": report.original_count,
        "intersection_count": report.intersection_count,
        "original_unique_count": report.original_unique_count,
        "intersection_unique_count": report.intersection_unique_count,
        "execute_seconds": execute_seconds,
    }


def main(argv: list[str], env: dict) -> int:
    try:
        task = read_task(argv, env)
        parties, rank = link_parties(task)
        plan = psi_plan(task, [n for n, _ in parties], rank)
    except ConfigError as e:
        print(f"psi: bad configuration: {e}", file=sys.stderr, flush=True)
        return 2
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as e:
        # A value of the wrong JSON type somewhere the checks above do not name.
        print(f"psi: bad configuration: {type(e).__name__}: {e} (compare the task input config with docs/engines.md)", file=sys.stderr, flush=True)
        return 2
    receiver = parties[plan["receiver_rank"]][0]
    gets = plan["broadcast_result"] or plan["receiver_rank"] == rank
    dmp = plan["datamesh"]
    if dmp is not None:
        if gets and not dmp["output"]:
            print("psi: bad configuration: TASK_INPUT_CONFIG.sf_output_ids: this party gets the result; name the DomainData it becomes", file=sys.stderr, flush=True)
            return 2
        try:
            got = datamesh_call(env, "fetch", {"ids": dmp["inputs"], "dir": os.path.abspath("input")})
        except DataMeshError as e:
            print(f"psi: {e}", file=sys.stderr, flush=True)
            return 1
        mine = list(got["fetched"].items())
        if len(mine) != 1:
            print(f"psi: bad configuration: TASK_INPUT_CONFIG.sf_input_ids: {len(mine)} of {', '.join(dmp['inputs'])} are {task['domain']}'s DomainData ({', '.join(i for i, _ in mine) or 'none'}); the PSI reads exactly one per party", file=sys.stderr, flush=True)
            return 2
        say(f"read DomainData {mine[0][0]} through the DataMesh")
        plan["input"] = mine[0][1]
        try:
            check_keys(plan["input"], plan["keys"], f"DomainData {mine[0][0]}", plan["where"], f"DomainData {mine[0][0]}")
        except ConfigError as e:
            print(f"psi: bad configuration: {e}", file=sys.stderr, flush=True)
            return 2
    say(f"task {task['task_id']}: {plan['protocol']} with {', '.join(n for n, _ in parties if n != task['domain'])}, receiver {receiver}, keys {plan['keys']}, input {plan['input']}")
    started = time.monotonic()
    try:
        counts = run(task, parties, rank, plan)
    except Exception as e:  # spu raises RuntimeError with yacl's message
        print(f"psi: failed after {time.monotonic() - started:.1f}s: {e}", file=sys.stderr, flush=True)
        return 1
    output = plan["output"]
    if dmp is not None and gets:
        with open(plan["output"], newline="", encoding="utf-8") as f:
            columns = next(csv.reader(f), [])
        try:
            datamesh_call(env, "upload", {"id": dmp["output"], "uri": dmp["output_uri"], "path": plan["output"], "columns": columns})
        except DataMeshError as e:
            print(f"psi: the result could not be written: {e}", file=sys.stderr, flush=True)
            return 1
        output = f"domaindata:{dmp['output']}"
    seconds = round(time.monotonic() - started, 2)
    say(f"done in {seconds}s: {counts['original_count']} rows, intersection {counts['intersection_count']}" + (f", written to {output}" if gets else " (the result is the receiver's)"))
    # One machine-readable line for whoever reads the task's log tail.
    print("psi-result " + json.dumps({"party": task["domain"], "protocol": plan["protocol"], "seconds": seconds, "output": output if gets else None, **counts}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], dict(os.environ)))
