# lib.sh: helpers for the parity playbook's end-to-end tests.
#
# sim_start DIR [SCENARIO]: starts `mnem sim serve` on a free loopback port
# with the parity scenario (or SCENARIO), its database being the test
# harness's PostgreSQL, and exports what a client needs to reach it:
# AWS_ENDPOINT_URL, dummy credentials, generated AWS config and credentials
# files with the team's profiles, and MNEM_HTTP_CONNECT_TO. sim_stop stops it.
# aws_sim ARGS: the real AWS CLI v2 against the simulator.
PARITY_PASSWORD="Parity-Secret-4e1f9b27"

sim_start() {
  SIM_DIR=$1
  scenario=${2:-"$MNEM_ROOT/stdlib/sim/scenarios/parity.lua"}
  mkdir -p "$SIM_DIR"
  MNEM_SIM_PG_HOST=$PGHOST MNEM_SIM_PG_PORT=$PGPORT MNEM_SIM_PG_USER=$PGUSER \
    MNEM_SIM_PG_PASSWORD=$PARITY_PASSWORD \
    "$MNEM_BIN" sim serve --port 0 --ready-file "$SIM_DIR/ready.json" --scenario "$scenario" \
    >"$SIM_DIR/sim.log" 2>&1 &
  SIM_PID=$!
  i=0
  while [ ! -s "$SIM_DIR/ready.json" ]; do
    i=$((i + 1))
    if [ $i -gt 600 ] || ! kill -0 "$SIM_PID" 2>/dev/null; then
      echo "the simulator did not start:" >&2
      cat "$SIM_DIR/sim.log" >&2
      return 1
    fi
    sleep 0.05
  done
  eval "$(python3 - "$SIM_DIR" <<'PY'
import json, sys
d = sys.argv[1]
ready = json.load(open(d + "/ready.json"))
region = ready.get("region") or "eu-west-1"
profiles = ["default", "mnemosys-dev", "mnemosys-test"]
with open(d + "/aws-config", "w") as f:
    for p in profiles:
        f.write(("[default]" if p == "default" else "[profile %s]" % p) + "\n")
        f.write("region = %s\nendpoint_url = %s\n" % (region, ready["endpoint"]))
with open(d + "/aws-credentials", "w") as f:
    for p in profiles:
        f.write("[%s]\naws_access_key_id = test\naws_secret_access_key = test\n" % p)
print("export AWS_ENDPOINT_URL='%s'" % ready["endpoint"])
print("export SIM_ENDPOINT='%s'" % ready["endpoint"])
print("export AWS_REGION='%s' AWS_DEFAULT_REGION='%s'" % (region, region))
print("export AWS_CONFIG_FILE='%s/aws-config' AWS_SHARED_CREDENTIALS_FILE='%s/aws-credentials'" % (d, d))
print("export MNEM_HTTP_CONNECT_TO='%s'" % ",".join(ready.get("connect_to") or []))
PY
)"
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true
  unset AWS_PROFILE AWS_SESSION_TOKEN
}

sim_stop() {
  [ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null
  SIM_PID=""
}

aws_sim() {
  /usr/bin/aws --endpoint-url "$SIM_ENDPOINT" --output json "$@"
}

# json_get FILE EXPR: prints a Python expression over the JSON in FILE (as d).
json_get() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# Fresh database state: no mnemosys_test database, an application role present.
reset_database() {
  psql -q -X -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS mnemosys_test WITH (FORCE)" >/dev/null 2>&1
  psql -q -X -d postgres -c "DO \$\$ BEGIN CREATE ROLE mnemosys_app LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$" >/dev/null
}

# record_has RECORD EVENT STEP [REASON]: passes when the run record has an
# EVENT line for STEP (with that reason, when given).
record_has() {
  python3 - "$@" <<'PY'
import json, sys
path, event, step = sys.argv[1:4]
reason = sys.argv[4] if len(sys.argv) > 4 else None
for line in open(path):
    e = json.loads(line)
    if e.get("event") == event and e.get("step") == step and (reason is None or e.get("reason") == reason):
        sys.exit(0)
sys.exit(1)
PY
}
