# Sourced by benchmark scripts: starts a single-node garage S3 server on 127.0.0.1 (as in
# ../shared/docs/test-infra.md) in "$WORK" and sets ENDPOINT, ACCESS_KEY, SECRET_KEY, BUCKET and
# GARAGE_PID. The caller owns "$WORK" and kills "$GARAGE_PID" on exit.
GARAGE="${GARAGE_BIN:-$HOME/.cache/buildmaster-test-tools/bin/garage}"
[ -x "$GARAGE" ] || { echo "garage not found at $GARAGE: run scripts/install-test-tools.sh" >&2; exit 1; }
# Fixed throw-away credentials of this loopback-only server.
ACCESS_KEY=GK0123456789abcdef01234567
SECRET_KEY=a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1
BUCKET=packages

read -r P_RPC P_S3 P_WEB P_ADMIN < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')
cat >"$WORK/garage.toml" <<GARAGE_TOML
metadata_dir = "$WORK/meta"
data_dir = "$WORK/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$P_RPC"
rpc_public_addr = "127.0.0.1:$P_RPC"
rpc_secret = "$(openssl rand -hex 32)"
[s3_api]
s3_region = "us-east-1"
api_bind_addr = "127.0.0.1:$P_S3"
root_domain = ".s3.test"
[s3_web]
bind_addr = "127.0.0.1:$P_WEB"
root_domain = ".web.test"
index = "index.html"
[admin]
api_bind_addr = "127.0.0.1:$P_ADMIN"
admin_token = "$(openssl rand -hex 16)"
GARAGE_TOML
"$GARAGE" -c "$WORK/garage.toml" server >"$WORK/garage.log" 2>&1 &
GARAGE_PID=$!
_garage() { "$GARAGE" -c "$WORK/garage.toml" "$@" >/dev/null; }
# Wait for the S3 port, the node id and the RPC layer in turn: layout commands fail until RPC is up.
for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$P_S3") 2>/dev/null && break; sleep 0.1; done
for _ in $(seq 100); do NODE=$("$GARAGE" -c "$WORK/garage.toml" node id -q 2>/dev/null) && break; sleep 0.1; done
for _ in $(seq 100); do _garage status 2>/dev/null && break; sleep 0.1; done
_garage layout assign -z dc1 -c 10G "${NODE%%@*}"
_garage layout apply --version 1
_garage key import --yes -n bench "$ACCESS_KEY" "$SECRET_KEY"
_garage bucket create "$BUCKET"
_garage bucket allow --read --write --owner "$BUCKET" --key bench
ENDPOINT="http://127.0.0.1:$P_S3"
