# mnem aws masks secret values in its output whatever characters they
# contain. The cases are a PEM key (newlines, "/", "+") with a quote and a
# backslash, read back as a SecureString, and a Secrets Manager password
# with "/" and "\", printed whole or picked out with --query. The tests run
# against `mnem sim serve`. Its ready file contains the scenario's keys,
# so only its owner may read it.
. tests/lib/t.sh

DIR=$(mktemp -d)
echo 'return {}' >"$DIR/scenario.lua"
. tests/lib/sim_cli.sh
trap '[ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null; rm -rf "$DIR"' EXIT
sim_start || { t_fail "simulator starts" "$(tail -n 5 "$DIR/sim.log")"; t_done; exit 1; }
check "the ready file, which holds the keys, is mode 0600" test "$(stat -c %a "$DIR/ready.json")" = 600

json() { python3 -c 'import json, sys; print(json.dumps(dict(zip(sys.argv[1::2], sys.argv[2::2]))))' "$@"; }

KEY='-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASC/abcDEF+ghi"quoted\back
-----END PRIVATE KEY-----'
"$MNEM" aws ssm put-parameter "$(json Name /tls/key Value "$KEY" Type SecureString)" \
  --endpoint-url "$ENDPOINT" >"$DIR/put.out" 2>&1
check "the key is stored" grep -q '"Version": 1' "$DIR/put.out"
"$MNEM" aws ssm get-parameter '{"Name": "/tls/key", "WithDecryption": true}' --endpoint-url "$ENDPOINT" \
  >"$DIR/get.out" 2>&1
check "the parameter is printed" grep -q '"Name": "/tls/key"' "$DIR/get.out"
check "the value is masked" grep -q '"Value": "\*\*\*\*\*\*\*\*"' "$DIR/get.out"
check "no line of the key shows" sh -c "! grep -q 'MIIEvQ\|PRIVATE KEY' '$DIR/get.out'"

SECRET='{"username": "app", "password": "Pa/ss\\word-77\"x"}'
"$MNEM" aws secretsmanager create-secret "$(json Name app/db SecretString "$SECRET")" \
  --endpoint-url "$ENDPOINT" >"$DIR/create.out" 2>&1
check "the secret is created" grep -q '"Name": "app/db"' "$DIR/create.out"
"$MNEM" aws secretsmanager get-secret-value '{"SecretId": "app/db"}' --endpoint-url "$ENDPOINT" \
  >"$DIR/secret.out" 2>&1
"$MNEM" aws secretsmanager get-secret-value '{"SecretId": "app/db"}' --endpoint-url "$ENDPOINT" \
  --query SecretString >>"$DIR/secret.out" 2>&1
check "the secret is printed" grep -q '"Name": "app/db"' "$DIR/secret.out"
check "the password never shows" sh -c "! grep -q 'Pa/ss\|ss.\\\\\\\\word\|word-77' '$DIR/secret.out'"
t_done
