# SSM Parameter Store through the real AWS CLI against `mnem sim serve`:
# versions, SecureString encryption, paths, pagination and errors.
. tests/lib/t.sh

DIR=$(mktemp -d "${MNEM_TEST_TMP:-/tmp}/svc-ssm.XXXXXX")
cat >"$DIR/scenario.lua" <<'LUA'
return {
  account = "123456789012", region = "us-east-1",
  credentials = { { access_key_id = "test", secret_access_key = "test" } },
  ssm = { parameters = { { name = "/app/db/host", value = "db.internal" } } },
}
LUA

. tests/lib/sim_cli.sh

if ! "$MNEM" help sim >/dev/null 2>&1; then
  t_skip "ssm through the aws cli" "this build has no mnem sim command yet"
  t_done; exit
fi
if ! sim_start; then
  t_fail "simulator starts" "$(tail -n 5 "$DIR/sim.log")"
  t_done; exit
fi

expect "put creates version 1" 'd["Version"] == 1 and d["Tier"] == "Standard"' \
  awsj ssm put-parameter --name /app/db/port --value 5432 --type String
expect_error "put again is ParameterAlreadyExists" ParameterAlreadyExists \
  awsj ssm put-parameter --name /app/db/port --value 5433 --type String
expect "overwrite makes version 2" 'd["Version"] == 2' \
  awsj ssm put-parameter --name /app/db/port --value 5433 --overwrite
expect "get returns the new value" 'd["Parameter"]["Value"] == "5433" and d["Parameter"]["Version"] == 2 and d["Parameter"]["ARN"] == "arn:aws:ssm:us-east-1:123456789012:parameter/app/db/port"' \
  awsj ssm get-parameter --name /app/db/port
expect "get by version selector" 'd["Parameter"]["Value"] == "5432"' awsj ssm get-parameter --name /app/db/port:1
expect_error "missing is ParameterNotFound" ParameterNotFound awsj ssm get-parameter --name /app/db/nope

awsj ssm put-parameter --name /app/db/password --value 'pw-Plain-Text-42' --type SecureString >/dev/null 2>&1
expect "securestring hidden without decryption" '
d["Parameter"]["Type"] == "SecureString" and "pw-Plain-Text-42" not in d["Parameter"]["Value"] and len(d["Parameter"]["Value"]) > 40' \
  awsj ssm get-parameter --name /app/db/password
expect "securestring with decryption" 'd["Parameter"]["Value"] == "pw-Plain-Text-42"' \
  awsj ssm get-parameter --name /app/db/password --with-decryption
expect "describe names the default key" '
[p for p in d["Parameters"] if p["Name"] == "/app/db/password"][0]["KeyId"] == "alias/aws/ssm"' \
  awsj ssm describe-parameters
check "request log never shows the secure value" sh -c '! grep -q "pw-Plain-Text-42" "$1"' _ "$DIR/sim.log"

expect "get-parameters lists invalid names" '
len(d["Parameters"]) == 2 and d["InvalidParameters"] == ["/app/db/nope"]' \
  awsj ssm get-parameters --names /app/db/host /app/db/port /app/db/nope

i=1
while [ $i -le 12 ]; do
  awsj ssm put-parameter --name "/app/many/p$i" --value "v$i" --type String >/dev/null 2>&1
  i=$((i + 1))
done
awsj ssm put-parameter --name /app/many/deep/x --value deep --type String >/dev/null 2>&1
expect "by-path one page of 10" 'len(d["Parameters"]) == 10 and "NextToken" in d' \
  awsj ssm get-parameters-by-path --path /app/many --max-results 10 --no-paginate
expect "by-path paginates to all direct children" 'len(d["Parameters"]) == 12' \
  awsj ssm get-parameters-by-path --path /app/many
expect "by-path recursive includes nested" 'len(d["Parameters"]) == 13' \
  awsj ssm get-parameters-by-path --path /app/many --recursive
expect "by-path filter by type" '[p["Name"] for p in d["Parameters"]] == ["/app/db/password"]' \
  awsj ssm get-parameters-by-path --path /app/db --parameter-filters Key=Type,Values=SecureString
expect_empty "delete succeeds" awsj ssm delete-parameter --name /app/db/port
expect_error "delete again is ParameterNotFound" ParameterNotFound awsj ssm delete-parameter --name /app/db/port

t_done
