# `mnem run --sim` removes the caller's web identity variables
# (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN, AWS_ROLE_SESSION_NAME), so
# neither the playbook's AWS client nor a program it runs can exchange a
# real CI or Kubernetes token with the real STS. The token file named here
# does not exist and the AWS CLI is not run: with these variables it would
# call sts.amazonaws.com itself.
. tests/lib/t.sh

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/who.lua" <<'PLAYBOOK'
playbook {
  name = "rehearsal-web-identity",
  steps = {
    step "Who am I" {
      run = function()
        for _, name in ipairs({ "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME" }) do
          print(name .. "=" .. tostring(os.getenv(name)))
        end
        print("arn=" .. aws.sts.get_caller_identity{}.Arn)
        local child = exec{ "env", stream = false }
        print("child_has_web_identity=" .. tostring(child.stdout:find("AWS_WEB_IDENTITY_TOKEN_FILE=", 1, true) ~= nil
          or child.stdout:find("AWS_ROLE_ARN=", 1, true) ~= nil))
      end,
    },
  },
}
PLAYBOOK
env AWS_WEB_IDENTITY_TOKEN_FILE="$dir/absent-token" AWS_ROLE_ARN=arn:aws:iam::123456789012:role/real-ci \
  AWS_ROLE_SESSION_NAME=real-session \
  "$MNEM" run --sim --scenario empty "$dir/who.lua" --state-dir "$dir/state" >"$dir/out" 2>&1
status=$?

check "the rehearsal succeeds" test "$status" -eq 0
check "no token file variable" grep -q '^AWS_WEB_IDENTITY_TOKEN_FILE=nil$' "$dir/out"
check "no role variable" grep -q '^AWS_ROLE_ARN=nil$' "$dir/out"
check "no session name variable" grep -q '^AWS_ROLE_SESSION_NAME=nil$' "$dir/out"
check "the simulator's user is the caller" grep -q '^arn=arn:aws:iam::[0-9]*:user/' "$dir/out"
check "programs run by a step do not see them" grep -q '^child_has_web_identity=false$' "$dir/out"
check "no web identity call is recorded" sh -c "! grep -rq assume_role_with_web_identity '$dir/state'"
t_done
