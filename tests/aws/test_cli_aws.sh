# mnem aws: output, --query, exit codes and the operation list, against
# the loopback capture server tests/aws/client_server.py.
. tests/lib/t.sh

DIR=$(mktemp -d "${MNEM_TEST_TMP:-/tmp}/cli-aws.XXXXXX")
python3 tests/aws/client_server.py "$DIR" >"$DIR/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null' EXIT
i=0
while [ ! -f "$DIR/port" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
URL="http://127.0.0.1:$(cat "$DIR/port")"

# script JSON: sets the server's next responses and clears captured requests.
script() {
  : >"$DIR/requests.jsonl"
  printf '%s' "$1" >"$DIR/script.tmp" && mv "$DIR/script.tmp" "$DIR/script.json"
}
requests() { wc -l <"$DIR/requests.jsonl" | tr -d ' '; }

H='"headers": {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "req-cli"}'
PARAM='{"Parameter": {"Value": "v1", "Name": "/a", "Type": "String", "Version": 2, "Selector": null}}'
ok_param() { script "[{\"status\": 200, $H, \"body\": $(printf '%s' "$PARAM" | python3 -c 'import json,sys;print(json.dumps(sys.stdin.read()))')}]"; }

ok_param
out=$("$MNEM" aws ssm get-parameter '{"Name": "/a"}' --endpoint-url "$URL" 2>"$DIR/err"); status=$?
expected='{
  "Parameter": {
    "Name": "/a",
    "Type": "String",
    "Value": "v1",
    "Version": 2
  }
}'
if [ $status -eq 0 ] && [ "$out" = "$expected" ]; then t_pass "pretty sorted JSON output"
else t_fail "pretty sorted JSON output" "status $status, got: $out $(cat "$DIR/err")"; fi

check "request sent with Name" grep -q '"Name\\": \\"/a\\"' "$DIR/requests.jsonl"

ok_param
out=$("$MNEM" aws ssm get_parameter '{"Name": "/a"}' --endpoint-url "$URL" --query Parameter.Value)
if [ "$out" = '"v1"' ]; then t_pass "query selects a value"; else t_fail "query selects a value" "got $out"; fi

script '[{"status": 200, '"$H"', "body": "{\"Parameters\": [], \"InvalidParameters\": []}"}]'
out=$("$MNEM" aws ssm GetParameters '{"Names": ["/x"]}' --endpoint-url "$URL")
if [ "$out" = '{
  "InvalidParameters": [],
  "Parameters": []
}' ]; then t_pass "empty lists print as []"; else t_fail "empty lists print as []" "got $out"; fi

script '[{"status": 400, '"$H"', "body": "{\"__type\": \"ParameterNotFound\", \"message\": \"Parameter /b not found.\"}"}]'
"$MNEM" aws ssm get-parameter '{"Name": "/b"}' --endpoint-url "$URL" >"$DIR/out" 2>"$DIR/err"; status=$?
if [ $status -eq 1 ] && [ "$(wc -l <"$DIR/err")" -eq 1 ] && grep -q 'ParameterNotFound: Parameter /b not found.' "$DIR/err" \
  && [ ! -s "$DIR/out" ]; then t_pass "AWS error exits 1 with one line"
else t_fail "AWS error exits 1 with one line" "status $status: $(cat "$DIR/err")"; fi

script '[]'
"$MNEM" aws ssm get-parameter '{"Nmae": "/b"}' --endpoint-url "$URL" >"$DIR/out" 2>"$DIR/err"; status=$?
if [ $status -eq 2 ] && grep -q 'Nmae' "$DIR/err" && [ "$(requests)" -eq 0 ]; then t_pass "invalid parameter exits 2 unsent"
else t_fail "invalid parameter exits 2 unsent" "status $status, requests $(requests): $(cat "$DIR/err")"; fi

"$MNEM" aws ssm get-parameter '[1, 2]' --endpoint-url "$URL" >"$DIR/out" 2>"$DIR/err"; status=$?
if [ $status -eq 2 ] && grep -q 'one JSON object' "$DIR/err"; then t_pass "non-object JSON exits 2"
else t_fail "non-object JSON exits 2" "status $status: $(cat "$DIR/err")"; fi

"$MNEM" aws ssm get-paramter --endpoint-url "$URL" >"$DIR/out" 2>"$DIR/err"; status=$?
if [ $status -eq 2 ] && grep -q 'did you mean get-parameter' "$DIR/err"; then t_pass "unknown operation suggests name"
else t_fail "unknown operation suggests name" "status $status: $(cat "$DIR/err")"; fi

"$MNEM" aws nosuch describe-things >"$DIR/out" 2>"$DIR/err"; status=$?
if [ $status -eq 2 ]; then t_pass "unknown service exits 2"; else t_fail "unknown service exits 2" "status $status"; fi

"$MNEM" aws ecs --bogus >"$DIR/out" 2>"$DIR/err"; status=$?
if [ $status -eq 2 ] && grep -q 'unknown option --bogus' "$DIR/err"; then t_pass "unknown option exits 2"
else t_fail "unknown option exits 2" "status $status: $(cat "$DIR/err")"; fi

check "service lists operations" sh -c "'$MNEM' aws rds | grep -qx describe_db_instances"
check "help documents aws" sh -c "'$MNEM' help aws | grep -q -- '--endpoint-url URL'"

"$MNEM" aws sts get-caller-identity --endpoint-url http://127.0.0.1:9 >"$DIR/out" 2>"$DIR/err"; status=$?
if [ $status -eq 1 ] && grep -q 'ConnectionRefused' "$DIR/err"; then t_pass "connection refused exits 1"
else t_fail "connection refused exits 1" "status $status: $(cat "$DIR/err")"; fi

t_done
