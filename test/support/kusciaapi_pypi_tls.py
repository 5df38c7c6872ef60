"""SecretFlow's PyPI KusciaAPI client (`kuscia`) over TLS and mTLS, set up the
way Kuscia's docs set it up: grpc.ssl_channel_credentials(ca.crt,
kusciaapi-server.key, kusciaapi-server.crt) and metadata `token`; HTTPS with
the same files, its answer parsed strictly into Kuscia's response message.
Then what must be refused: no client certificate, one from another CA, a
server the client does not trust, plaintext, a wrong token. Prints one JSON
line per step; exits non-zero when an expected success fails. Used by
test/e2e/kusciaapi-tls.test.ts.

argv: JSON {"grpc", "http", "ca", "cert", "key", "token", "mode": "MTLS" | "TLS",
            "other_ca", "other_cert", "other_key", "domain"}
"""
import json
import ssl
import sys
import urllib.error
import urllib.request

import grpc
from google.protobuf import json_format
from kuscia.proto.api.v1alpha1.kusciaapi import domain_pb2 as dm, domain_pb2_grpc as dm_grpc, health_pb2 as hp, health_pb2_grpc as hp_grpc

cfg = json.loads(sys.argv[1])
read = lambda path: open(path, "rb").read()  # noqa: E731


def step(name, **facts):
    print(json.dumps({"step": name, **facts}), flush=True)


def creds(ca=None, cert=None, key=None):
    return grpc.ssl_channel_credentials(read(ca), read(key) if key else None, read(cert) if cert else None)


def query(channel_creds, token):
    """QueryDomain over gRPC: (code, domain_id) or the RPC error's code and details."""
    with grpc.secure_channel(cfg["grpc"], channel_creds) if channel_creds else grpc.insecure_channel(cfg["grpc"]) as ch:
        try:
            r = dm_grpc.DomainServiceStub(ch).QueryDomain(dm.QueryDomainRequest(domain_id=cfg["domain"]), metadata=(("token", token),), timeout=10)
            return {"ok": True, "code": r.status.code, "domain_id": r.data.domain_id}
        except grpc.RpcError as e:
            return {"ok": False, "grpc": e.code().name, "details": e.details()}


mtls = cfg["mode"] == "MTLS"
good = creds(cfg["ca"], cfg["cert"], cfg["key"]) if mtls else creds(cfg["ca"])
r = query(good, cfg["token"])
if not r["ok"] or r["code"] != 0:
    raise SystemExit(f"QueryDomain over {cfg['mode']}: {r}")
step("grpc QueryDomain", **r)
with grpc.secure_channel(cfg["grpc"], good) as ch:
    h = hp_grpc.HealthServiceStub(ch).healthZ(hp.HealthRequest(), metadata=(("token", cfg["token"]),), timeout=10)
step("grpc healthZ", ready=h.data.ready)
step("grpc wrong token", **query(good, "not-the-token"))
step("grpc plaintext", **query(None, cfg["token"]))
step("grpc untrusted server", **query(creds(cfg["other_ca"], cfg["cert"], cfg["key"]) if mtls else creds(cfg["other_ca"]), cfg["token"]))
if mtls:
    step("grpc no client cert", **query(creds(cfg["ca"]), cfg["token"]))
    step("grpc client cert of another CA", **query(creds(cfg["ca"], cfg["other_cert"], cfg["other_key"]), cfg["token"]))


def https(path, body, token, cert=None, key=None):
    ctx = ssl.create_default_context(cafile=cfg["ca"])
    if cert:
        ctx.load_cert_chain(cert, key)
    req = urllib.request.Request(f"https://{cfg['http']}{path}", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Token": token})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as res:
            return {"ok": True, "http": res.status, "body": res.read().decode()}
    except urllib.error.HTTPError as e:
        return {"ok": True, "http": e.code, "body": e.read().decode()}
    except (urllib.error.URLError, ssl.SSLError, ConnectionError, OSError) as e:
        return {"ok": False, "error": type(getattr(e, "reason", e)).__name__, "message": str(getattr(e, "reason", e))}


cert, key = (cfg["cert"], cfg["key"]) if mtls else (None, None)
r = https("/api/v1/domain/query", {"domain_id": cfg["domain"]}, cfg["token"], cert, key)
if not r["ok"] or r["http"] != 200:
    raise SystemExit(f"HTTPS QueryDomain over {cfg['mode']}: {r}")
parsed = json_format.Parse(r["body"], dm.QueryDomainResponse())  # strict: an unknown field fails
step("https QueryDomain", http=r["http"], code=parsed.status.code, domain_id=parsed.data.domain_id)
r = https("/api/v1/domain/query", {"domain_id": cfg["domain"]}, "not-the-token", cert, key)
step("https wrong token", http=r.get("http"), code=json.loads(r["body"])["status"]["code"] if r.get("body") else None)


def refused(r):
    """An HTTPS refusal: Kuscia's envelope (its code and message) when the server answered, else the transport error."""
    if "body" in r:
        status = json.loads(r.pop("body"))["status"]
        r.update(code=status["code"], message=status["message"])
    return r


if mtls:
    step("https no client cert", **refused(https("/api/v1/domain/query", {"domain_id": cfg["domain"]}, cfg["token"])))
    step("https client cert of another CA", **refused(https("/api/v1/domain/query", {"domain_id": cfg["domain"]}, cfg["token"], cfg["other_cert"], cfg["other_key"])))
