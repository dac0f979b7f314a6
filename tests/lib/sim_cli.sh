# sim_cli.sh: helpers for tests that drive `mnem sim serve` with the real
# AWS CLI. A test sets DIR (a fresh folder) and writes $DIR/scenario.lua,
# then sources this file and calls sim_start.

# sim_start: starts the simulator on a free port and sets ENDPOINT. Waits
# up to 30 s for its ready file, less when the simulator exits.
sim_start() {
  "$MNEM" sim serve --port 0 --ready-file "$DIR/ready.json" --scenario "$DIR/scenario.lua" >"$DIR/sim.log" 2>&1 &
  SIM_PID=$!
  i=0
  while [ ! -s "$DIR/ready.json" ] && [ $i -lt 300 ] && kill -0 "$SIM_PID" 2>/dev/null; do
    sleep 0.1
    i=$((i + 1))
  done
  [ -s "$DIR/ready.json" ] || return 1
  ENDPOINT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["endpoint"])' "$DIR/ready.json")
}
trap '[ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null' EXIT

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null
export AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_REGION=us-east-1 AWS_PAGER=
awsj() { /usr/bin/aws --endpoint-url "$ENDPOINT" --output json "$@"; }

# expect NAME PYTHON-EXPRESSION COMMAND...: COMMAND's JSON output is `d`.
expect() {
  name=$1 expr=$2; shift 2
  if out=$("$@" 2>&1) && printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if eval(sys.argv[1]) else 1)' "$expr"; then
    t_pass "$name"
  else
    t_fail "$name" "$(printf '%s' "$out" | tail -n 5)"
  fi
}

# expect_error NAME CODE COMMAND...: COMMAND fails with AWS error CODE.
expect_error() {
  name=$1 code=$2; shift 2
  if out=$("$@" 2>&1); then t_fail "$name" "succeeded: $(printf '%s' "$out" | tail -n 3)"; return; fi
  case "$out" in
    *"($code)"*) t_pass "$name" ;;
    *) t_fail "$name" "$(printf '%s' "$out" | tail -n 3)" ;;
  esac
}

# expect_empty NAME COMMAND...: COMMAND succeeds and prints nothing, as the
# CLI does for an operation whose output shape has no members.
expect_empty() {
  name=$1; shift
  if ! out=$("$@" 2>&1); then t_fail "$name" "failed: $(printf '%s' "$out" | tail -n 3)"; return; fi
  if [ -n "$out" ]; then t_fail "$name" "printed: $(printf '%s' "$out" | tail -n 3)"; return; fi
  t_pass "$name"
}


# wait_for SECONDS PYTHON-EXPRESSION COMMAND...: runs COMMAND every second
# until its JSON output `d` makes the expression true. An expression that
# does not compile fails at once.
wait_for() {
  limit=$1 expr=$2; shift 2
  python3 -c 'import sys; compile(sys.argv[1], "<check>", "eval")' "$expr" || return 1
  end=$(( $(date +%s) + limit ))
  while [ "$(date +%s)" -lt "$end" ]; do
    if "$@" 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if eval(sys.argv[1]) else 1)' "$expr"
    then return 0; fi
    sleep 1
  done
  return 1
}

# wait_for_error SECONDS CODE COMMAND...: runs COMMAND every second until it
# fails with AWS error CODE.
wait_for_error() {
  limit=$1 code=$2; shift 2
  end=$(( $(date +%s) + limit ))
  while [ "$(date +%s)" -lt "$end" ]; do
    if ! out=$("$@" 2>&1); then
      case "$out" in *"($code)"*) return 0 ;; esac
    fi
    sleep 1
  done
  return 1
}
