# mnem aws messages: an operation typo is suggested in the form the user
# typed, without a Lua location. An AWS error with an empty message
# (ParameterNotFound, as SSM sends it) names the request's parameter. A
# SecureString read without WithDecryption stays masked with a note on
# stderr. Everything runs against `mnem sim serve` on loopback.
. tests/lib/t.sh

DIR=$(mktemp -d "${MNEM_TEST_TMP:-/tmp}/cli-aws-messages.XXXXXX")
cat >"$DIR/scenario.lua" <<'SCENARIO'
return { name = "messages", credentials = { { access_key_id = "test", secret_access_key = "test" } } }
SCENARIO
. tests/lib/sim_cli.sh
if ! sim_start; then
  t_fail "simulator starts" "$(cat "$DIR/sim.log")"
  t_done; exit 1
fi

# typo FORM EXPECTED: `mnem aws ssm FORM` exits 2 and suggests EXPECTED.
typo() {
  "$MNEM" aws ssm "$1" --endpoint-url "$ENDPOINT" >"$DIR/out" 2>"$DIR/err"
  status=$?
  check "typo $1 exits 2" test "$status" -eq 2
  check "typo $1 suggests $2" grep -qF "(did you mean $2?)" "$DIR/err"
  check "typo $1 has no Lua location" sh -c "! grep -q '\.lua:[0-9]' '$DIR/err'"
  check "typo $1 sends nothing" sh -c "! grep -q 'ssm\.' '$DIR/sim.log'"
}
typo get-parametr get-parameter
typo get_parametr get_parameter
typo GetParametr GetParameter
"$MNEM" aws ssm get-parametr --endpoint-url "$ENDPOINT" 2>"$DIR/err" >/dev/null
check "typo message text" grep -qxF \
  'mnem aws: ssm has no operation get-parametr (did you mean get-parameter?); `mnem aws ssm` lists them' "$DIR/err"

# missing OPERATION: the empty ParameterNotFound message names the parameter.
missing() {
  "$MNEM" aws ssm "$1" '{"Name": "/shop/prod/missing"}' --endpoint-url "$ENDPOINT" >"$DIR/out" 2>"$DIR/err"
  status=$?
  check "$1 of a missing parameter exits 1" test "$status" -eq 1
  check "$1 error names the parameter" grep -qF \
    "mnem aws: aws ParameterNotFound: no message in the response; the request's Name is \"/shop/prod/missing\"" \
    "$DIR/err"
}
missing get-parameter
missing delete-parameter
missing get-parameter-history

# A message the service sends is left as it is.
"$MNEM" aws ssm put-parameter '{"Name": "/dup", "Value": "a", "Type": "String"}' --endpoint-url "$ENDPOINT" \
  >/dev/null 2>&1
"$MNEM" aws ssm put-parameter '{"Name": "/dup", "Value": "b", "Type": "String"}' --endpoint-url "$ENDPOINT" \
  >"$DIR/out" 2>"$DIR/err"
check "a sent message is kept" sh -c "grep -q 'ParameterAlreadyExists' '$DIR/err' && ! grep -q 'no message' '$DIR/err'"

# A SecureString without WithDecryption: masked, with a note.
SECRET="cli-note-secret-84c1"
"$MNEM" aws ssm put-parameter "{\"Name\": \"/s/key\", \"Value\": \"$SECRET\", \"Type\": \"SecureString\"}" \
  --endpoint-url "$ENDPOINT" >/dev/null 2>&1
"$MNEM" aws ssm get-parameter '{"Name": "/s/key"}' --endpoint-url "$ENDPOINT" >"$DIR/out" 2>"$DIR/err"
check "encrypted value is masked" grep -qF '"Value": "********"' "$DIR/out"
check "note says it is encrypted" grep -qF "without WithDecryption they are the encrypted values" "$DIR/err"
"$MNEM" aws ssm get-parameter '{"Name": "/s/key", "WithDecryption": true}' --endpoint-url "$ENDPOINT" \
  >"$DIR/out" 2>"$DIR/err"
check "decrypted value is masked" grep -qF '"Value": "********"' "$DIR/out"
check "no note with WithDecryption" test ! -s "$DIR/err"
check "the secret is never printed" sh -c "! grep -rqF '$SECRET' '$DIR/out' '$DIR/err'"
t_done
