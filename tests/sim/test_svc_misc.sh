# STS, Secrets Manager and Application Auto Scaling through the real AWS
# CLI against `mnem sim serve`.
. tests/lib/t.sh

DIR=$(mktemp -d "${MNEM_TEST_TMP:-/tmp}/svc-misc.XXXXXX")
cat >"$DIR/scenario.lua" <<'LUA'
return {
  account = "123456789012", region = "us-east-1",
  credentials = { { access_key_id = "test", secret_access_key = "test" } },
  sts = { user = "deployer" },
}
LUA

. tests/lib/sim_cli.sh

if ! "$MNEM" help sim >/dev/null 2>&1; then
  t_skip "sts, secrets manager and autoscaling through the aws cli" "this build has no mnem sim command yet"
  t_done; exit
fi
if ! sim_start; then
  t_fail "simulator starts" "$(tail -n 5 "$DIR/sim.log")"
  t_done; exit
fi

expect "caller identity" 'd["Account"] == "123456789012" and d["Arn"] == "arn:aws:iam::123456789012:user/deployer"' \
  awsj sts get-caller-identity
if creds=$(awsj sts assume-role --role-arn arn:aws:iam::123456789012:role/ops --role-session-name rehearsal 2>&1); then
  t_pass "assume-role succeeds"
else
  t_fail "assume-role succeeds" "$creds"
fi
AKID=$(printf '%s' "$creds" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Credentials"]["AccessKeyId"])' 2>/dev/null)
SKEY=$(printf '%s' "$creds" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Credentials"]["SecretAccessKey"])' 2>/dev/null)
STOK=$(printf '%s' "$creds" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Credentials"]["SessionToken"])' 2>/dev/null)
check "assumed key starts with ASIA" sh -c 'case "$1" in ASIA*) exit 0 ;; *) exit 1 ;; esac' _ "$AKID"
expect "assumed credentials are accepted" 'd["Arn"] == "arn:aws:sts::123456789012:assumed-role/ops/rehearsal"' \
  env AWS_ACCESS_KEY_ID="$AKID" AWS_SECRET_ACCESS_KEY="$SKEY" AWS_SESSION_TOKEN="$STOK" \
  /usr/bin/aws --endpoint-url "$ENDPOINT" --output json sts get-caller-identity

expect "create secret" 'd["Name"] == "app/db" and d["ARN"].startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-")' \
  awsj secretsmanager create-secret --name app/db --secret-string first-Value-1
expect_error "create twice is ResourceExistsException" ResourceExistsException \
  awsj secretsmanager create-secret --name app/db --secret-string x
expect "put a new value" '"AWSCURRENT" in d["VersionStages"]' \
  awsj secretsmanager put-secret-value --secret-id app/db --secret-string second-Value-2
expect "current value" 'd["SecretString"] == "second-Value-2" and d["VersionStages"] == ["AWSCURRENT"]' \
  awsj secretsmanager get-secret-value --secret-id app/db
expect "previous value" 'd["SecretString"] == "first-Value-1"' \
  awsj secretsmanager get-secret-value --secret-id app/db --version-stage AWSPREVIOUS
expect "describe lists both versions" 'len(d["VersionIdsToStages"]) == 2 and "SecretString" not in d' \
  awsj secretsmanager describe-secret --secret-id app/db
expect_error "missing secret is ResourceNotFoundException" ResourceNotFoundException \
  awsj secretsmanager get-secret-value --secret-id nope
check "request log never shows secret values" sh -c '! grep -q "second-Value-2" "$1"' _ "$DIR/sim.log"

expect "no scalable targets at first" 'd["ScalableTargets"] == []' \
  awsj application-autoscaling describe-scalable-targets --service-namespace ecs
# RegisterScalableTarget has an empty output in the botocore 1.29 model
# that mnem embeds and /usr/bin/aws uses (ScalableTargetARN came later), so
# the CLI prints nothing and the target is checked through describe.
expect_empty "register a target" awsj application-autoscaling register-scalable-target --service-namespace ecs \
  --resource-id service/c/api --scalable-dimension ecs:service:DesiredCount --min-capacity 1 --max-capacity 3
expect "describe by resource id" '
[(t["ServiceNamespace"], t["ResourceId"], t["ScalableDimension"], t["MinCapacity"], t["MaxCapacity"])
 for t in d["ScalableTargets"]] == [("ecs", "service/c/api", "ecs:service:DesiredCount", 1, 3)]' \
  awsj application-autoscaling describe-scalable-targets --service-namespace ecs --resource-ids service/c/api
expect_empty "deregister the target" awsj application-autoscaling deregister-scalable-target --service-namespace ecs \
  --resource-id service/c/api --scalable-dimension ecs:service:DesiredCount
expect_error "deregister again is ObjectNotFoundException" ObjectNotFoundException \
  awsj application-autoscaling deregister-scalable-target --service-namespace ecs \
  --resource-id service/c/api --scalable-dimension ecs:service:DesiredCount

t_done
