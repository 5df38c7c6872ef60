#!/usr/bin/env bash
# Installs the engines Ferry runs as jobs (docs/engines.md "Running an engine
# under Ferry"): SecretFlow's PSI, PyPI spu==0.9.5, in a project-local venv
# <FERRY_ENGINES_DIR>/psi-venv (default .tools/psi-venv), and writes the
# AppImage for it with this machine's absolute paths. Idempotent: when the venv
# matches engines/psi/requirements.txt it only rewrites the AppImage.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${FERRY_ENGINES_DIR:-$root/.tools}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
venv="$dir/psi-venv"
req="$root/engines/psi/requirements.txt"
say() { echo "engines: $*" >&2; }

is311() { "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; }
# A root node runs tasks as nobody (docs/engines.md "Isolation"): the engine's
# interpreter and its standard library must be usable by that user too (a
# pyenv Python under /root is not).
by_tasks() { [ "$(id -u)" != 0 ] || ! command -v runuser >/dev/null || runuser -u nobody -- "$1" -c 'import encodings' >/dev/null 2>&1; }

# spu 0.9.5's only Linux wheel is cp311 for x86_64.
if [ "$(uname -m)" != x86_64 ]; then
  say "spu 0.9.5 (the PSI engine) has a Linux wheel for x86_64 only; this machine is $(uname -m)"
  exit 1
fi

want="$(sha256sum "$req" | cut -d' ' -f1)"
stamp="$venv/.ferry-requirements-sha256"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && is311 "$venv/bin/python" && by_tasks "$venv/bin/python"; then
  :
else
  # Python 3.11: FERRY_PYTHON311, Debian's, python3.11 on PATH, or python3 if it is 3.11; one tasks can run.
  py=""
  for c in "${FERRY_PYTHON311:-}" /usr/bin/python3.11 "$(command -v python3.11 || true)" "$(command -v python3 || true)"; do
    if [ -n "$c" ] && [ -x "$c" ] && is311 "$c" && "$c" -c 'import ensurepip, venv' 2>/dev/null && by_tasks "$c"; then py="$c"; break; fi
  done
  if [ -z "$py" ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    # Debian 12 ships python3.11; venv needs python3.11-venv (ensurepip).
    say "installing python3.11 and python3.11-venv (Debian)"
    if ! apt-get install -y -qq python3.11 python3.11-venv >/dev/null 2>&1; then
      apt-get update -qq >/dev/null 2>&1 || true
      apt-get install -y -qq python3.11 python3.11-venv >/dev/null 2>&1 || true
    fi
    if is311 /usr/bin/python3.11 && /usr/bin/python3.11 -c 'import ensurepip, venv' 2>/dev/null && by_tasks /usr/bin/python3.11; then py=/usr/bin/python3.11; fi
  fi
  if [ -z "$py" ]; then
    say "the PSI engine needs Python 3.11 with venv (spu 0.9.5's only wheel is cp311) that the task user (nobody) can run: none found."
    say "install it (Debian 12: apt-get install python3.11 python3.11-venv; elsewhere pyenv install 3.11) or set FERRY_PYTHON311=/path/to/python3.11"
    exit 1
  fi
  say "installing spu 0.9.5 (SecretFlow PSI) into $venv with $py ($("$py" -V 2>&1))"
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req"
  "$venv/bin/python" -c 'import spu.psi, spu.libspu; assert spu.__version__ == "0.9.5", spu.__version__' \
    || { say "spu installed but does not import; see the error above"; exit 1; }
  echo "$want" > "$stamp"
fi

# The task's DataMesh client (PyPI kuscia), beside the venv: it needs numpy 2, spu numpy 1.
dm="$dir/psi-datamesh"
dmreq="$root/engines/psi/datamesh-requirements.txt"
dmwant="$(sha256sum "$dmreq" | cut -d' ' -f1)"
if [ ! -f "$dm/.ferry-requirements-sha256" ] || [ "$(cat "$dm/.ferry-requirements-sha256")" != "$dmwant" ]; then
  say "installing the PSI task's DataMesh client (PyPI kuscia, pyarrow) into $dm"
  rm -rf "$dm"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input --no-warn-conflicts --target "$dm" -r "$dmreq"
  PYTHONPATH="$dm" "$venv/bin/python" -c 'import kuscia.datamesh.api, pyarrow.flight' \
    || { say "the kuscia DataMesh client does not import; see the error above"; exit 1; }
  chmod -R a+rX "$dm"
  echo "$dmwant" > "$dm/.ferry-requirements-sha256"
fi

# The AppImage with this machine's paths: the venv's python, the launcher and the DataMesh client.
sed -e "s|{{PSI_PYTHON}}|$venv/bin/python|g" -e "s|{{PSI_LAUNCHER}}|$root/engines/psi/launcher.py|g" -e "s|{{PSI_DATAMESH_PATH}}|$dm|g" \
  "$root/examples/appimage-secretflow-psi.yaml" > "$venv/appimage-secretflow-psi.yaml.tmp"
mv "$venv/appimage-secretflow-psi.yaml.tmp" "$venv/appimage-secretflow-psi.yaml"
