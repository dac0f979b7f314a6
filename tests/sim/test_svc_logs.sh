# CloudWatch Logs through the real AWS CLI against `mnem sim serve`:
# GetLogEvents in both directions with its tokens, filter patterns and
# stream ordering.
. tests/lib/t.sh

DIR=$(mktemp -d "${MNEM_TEST_TMP:-/tmp}/svc-logs.XXXXXX")
cat >"$DIR/scenario.lua" <<'LUA'
return {
  account = "123456789012", region = "us-east-1",
  credentials = { { access_key_id = "test", secret_access_key = "test" } },
}
LUA

. tests/lib/sim_cli.sh

if ! "$MNEM" help sim >/dev/null 2>&1; then
  t_skip "logs through the aws cli" "this build has no mnem sim command yet"
  t_done; exit
fi
if ! sim_start; then
  t_fail "simulator starts" "$(tail -n 5 "$DIR/sim.log")"
  t_done; exit
fi

check "create group" awsj logs create-log-group --log-group-name /app/api
expect_error "create group twice" ResourceAlreadyExistsException awsj logs create-log-group --log-group-name /app/api
check "create stream a" awsj logs create-log-stream --log-group-name /app/api --log-stream-name a
check "create stream b" awsj logs create-log-stream --log-group-name /app/api --log-stream-name b
expect_error "missing group" ResourceNotFoundException awsj logs create-log-stream --log-group-name /nope \
  --log-stream-name a
NOW=$(python3 -c 'import time; print(int(time.time() * 1000))')
events() {
  python3 - "$NOW" "$@" <<'PY'
import json, sys
now = int(sys.argv[1])
print(json.dumps([{"timestamp": now + i, "message": m} for i, m in enumerate(sys.argv[2:])]))
PY
}
check "put events in a" awsj logs put-log-events --log-group-name /app/api --log-stream-name a \
  --log-events "$(events "INFO start" "ERROR db down" "WARN slow query" "INFO done" "ERROR timeout")"
NOW=$((NOW + 100))
check "put events in b" awsj logs put-log-events --log-group-name /app/api --log-stream-name b \
  --log-events "$(events 'ERROR schema "x" does not exist' "INFO ok")"

expect "tail returns the last events" '[e["message"] for e in d["events"]] == ["INFO done", "ERROR timeout"]' \
  awsj logs get-log-events --log-group-name /app/api --log-stream-name a --limit 2 --no-start-from-head
BACK=$(awsj logs get-log-events --log-group-name /app/api --log-stream-name a --limit 2 --no-start-from-head |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["nextBackwardToken"])')
check "backward token shape" sh -c 'printf "%s" "$1" | grep -Eq "^b/[0-9]{56}/s$"' _ "$BACK"
expect "backward page" '[e["message"] for e in d["events"]] == ["ERROR db down", "WARN slow query"]' \
  awsj logs get-log-events --log-group-name /app/api --log-stream-name a --limit 2 --next-token "$BACK"
expect "head returns the first events" '[e["message"] for e in d["events"]] == ["INFO start", "ERROR db down"]' \
  awsj logs get-log-events --log-group-name /app/api --log-stream-name a --limit 2 --start-from-head
FWD=$(awsj logs get-log-events --log-group-name /app/api --log-stream-name a --start-from-head |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["nextForwardToken"])')
expect "same forward token at the end" "d['events'] == [] and d['nextForwardToken'] == '$FWD'" \
  awsj logs get-log-events --log-group-name /app/api --log-stream-name a --next-token "$FWD"
expect_error "missing stream" ResourceNotFoundException awsj logs get-log-events --log-group-name /app/api \
  --log-stream-name nope

expect "filter one term" 'len(d["events"]) == 3' awsj logs filter-log-events --log-group-name /app/api \
  --filter-pattern ERROR
expect "filter terms are ANDed" '[e["message"] for e in d["events"]] == ["ERROR db down"]' \
  awsj logs filter-log-events --log-group-name /app/api --filter-pattern "ERROR db"
expect "filter excludes a term" 'len(d["events"]) == 2' awsj logs filter-log-events --log-group-name /app/api \
  --filter-pattern "ERROR -timeout"
expect "filter optional terms" 'len(d["events"]) == 2' awsj logs filter-log-events --log-group-name /app/api \
  --filter-pattern "?WARN ?done"
expect "filter quoted phrase" 'd["events"][0]["logStreamName"] == "b" and len(d["events"]) == 1' \
  awsj logs filter-log-events --log-group-name /app/api --filter-pattern '"does not exist"'
expect "filter by stream names" 'len(d["events"]) == 2' awsj logs filter-log-events --log-group-name /app/api \
  --log-stream-names b
expect "filter paginates" 'len(d["events"]) == 7' awsj logs filter-log-events --log-group-name /app/api \
  --page-size 2
expect "streams by last event time" '[s["logStreamName"] for s in d["logStreams"]] == ["b", "a"]' \
  awsj logs describe-log-streams --log-group-name /app/api --order-by LastEventTime --descending
expect "streams by prefix" '[s["logStreamName"] for s in d["logStreams"]] == ["a"]' \
  awsj logs describe-log-streams --log-group-name /app/api --log-stream-name-prefix a
expect "groups by prefix" 'd["logGroups"][0]["logGroupName"] == "/app/api"' \
  awsj logs describe-log-groups --log-group-name-prefix /app

t_done
