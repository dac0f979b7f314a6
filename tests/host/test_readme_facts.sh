#!/bin/sh
# The README states where runs are recorded and which AWS profiles the
# parity playbook needs. These checks keep those statements true.
. tests/lib/t.sh
DIR=$(mktemp -d "${MNEM_TEST_TMP:-/tmp}/readme.XXXXXX")
case "$MNEM" in /*) ;; *) MNEM=$(pwd)/$MNEM ;; esac

for env_file in playbooks/env/*.lua; do
  profile=$(sed -n 's/^ *profile = "\([^"]*\)".*/\1/p' "$env_file")
  if [ -z "$profile" ]; then
    t_fail "profile of $env_file" "no profile = \"...\" line"
    continue
  fi
  check "README names profile $profile" grep -q "\`$profile\`" README.md
done

check "README names the default record folder" grep -q '~/.local/state/mnem/runs' README.md
check "README names the XDG record folder" grep -q '\$XDG_STATE_HOME/mnem/runs' README.md

cat >"$DIR/p.lua" <<'LUA'
playbook { name = "where", steps = { step "a" { run = function() end } } }
LUA
mkdir -p "$DIR/home" "$DIR/xdg"
(cd "$DIR" && env -u XDG_STATE_HOME HOME="$DIR/home" "$MNEM" run p.lua >/dev/null 2>&1)
check "without XDG_STATE_HOME runs go to ~/.local/state/mnem/runs" \
  sh -c "ls '$DIR/home/.local/state/mnem/runs/' | grep -q '\\.jsonl\$'"
(cd "$DIR" && HOME="$DIR/home" XDG_STATE_HOME="$DIR/xdg" "$MNEM" run p.lua >/dev/null 2>&1)
check "with XDG_STATE_HOME runs go to its mnem/runs" sh -c "ls '$DIR/xdg/mnem/runs/' | grep -q '\\.jsonl\$'"

rm -rf "$DIR"
t_done
