# An RDS PostgreSQL instance that a scenario declares with a db_name gets
# that database on the scenario's server when the scenario is loaded, so a
# rehearsed migration finds it. That is the case under `mnem sim serve` (on the
# test harness's server) and in a rehearsal, whose throwaway server reaches
# the scenario through the MNEM_SIM_PG_* variables.
. tests/lib/t.sh

dir=$(mktemp -d "${TMPDIR:-/tmp}/sim-dbname.XXXXXX")
sim_pid=
db="mnem_scenario_db_$$"
cleanup() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null
  for name in "$db" "${db}_untouched"; do
    psql -q -X -d postgres -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null 2>&1
  done
  rm -rf "$dir"
}
trap cleanup EXIT

cat > "$dir/shop.lua" <<'SCENARIO'
local function env(name, default)
  local value = os.getenv(name)
  if value == nil or value == "" then return default end
  return value
end
local pg = {
  host = env("MNEM_SIM_PG_HOST", "127.0.0.1"), port = math.tointeger(tonumber(env("MNEM_SIM_PG_PORT", "5432"))),
  user = env("MNEM_SIM_PG_USER", "postgres"), password = env("MNEM_SIM_PG_PASSWORD"),
  dbname = env("MNEM_SIM_PG_DBNAME", "postgres"),
}
return {
  name = "shop",
  postgres = os.getenv("SHOP_NO_ADMIN") == nil and pg or nil,
  rds = {
    endpoint = { address = pg.host, port = pg.port },
    instances = { {
      identifier = "shop-db", engine = "postgres", class = "db.t4g.micro", allocated_storage = 20,
      master_username = pg.user, db_name = env("SHOP_DB_NAME", "shop"),
    } },
  },
}
SCENARIO

if [ -z "${MNEM_TEST_PG:-}" ]; then
  t_skip "scenario database" "the test PostgreSQL server did not start"
  t_done; exit 0
fi

# Under `mnem sim serve`, pointed at the harness's server.
SHOP_DB_NAME=$db MNEM_SIM_PG_HOST=$PGHOST MNEM_SIM_PG_PORT=$PGPORT MNEM_SIM_PG_USER=$PGUSER \
  MNEM_SIM_PG_DBNAME=postgres \
  "$MNEM" sim serve --port 0 --ready-file "$dir/ready.json" --scenario "$dir/shop.lua" >"$dir/sim.log" 2>&1 &
sim_pid=$!
i=0
while [ ! -s "$dir/ready.json" ] && [ $i -lt 300 ]; do i=$((i + 1)); sleep 0.1; done
check "the simulator starts" test -s "$dir/ready.json"
present=$(psql -X -At -d postgres -c "select count(*) from pg_database where datname = '$db'")
check "the declared database exists" test "$present" = 1
check "no warning in the simulator log" sh -c "! grep -q 'could not create' '$dir/sim.log'"
kill "$sim_pid" 2>/dev/null
wait "$sim_pid" 2>/dev/null
sim_pid=

# A second start finds the database there and leaves it alone.
SHOP_DB_NAME=$db MNEM_SIM_PG_HOST=$PGHOST MNEM_SIM_PG_PORT=$PGPORT MNEM_SIM_PG_USER=$PGUSER \
  "$MNEM" sim serve --port 0 --ready-file "$dir/ready2.json" --scenario "$dir/shop.lua" >"$dir/sim2.log" 2>&1 &
sim_pid=$!
i=0
while [ ! -s "$dir/ready2.json" ] && [ $i -lt 300 ]; do i=$((i + 1)); sleep 0.1; done
check "the simulator starts again" test -s "$dir/ready2.json"
check "no warning on the second start" sh -c "! grep -q 'could not create' '$dir/sim2.log'"
kill "$sim_pid" 2>/dev/null
wait "$sim_pid" 2>/dev/null
sim_pid=

# Without a postgres table the scenario's server is left alone.
SHOP_NO_ADMIN=1 SHOP_DB_NAME=${db}_untouched MNEM_SIM_PG_HOST=$PGHOST MNEM_SIM_PG_PORT=$PGPORT \
  MNEM_SIM_PG_USER=$PGUSER \
  "$MNEM" sim serve --port 0 --ready-file "$dir/ready3.json" --scenario "$dir/shop.lua" >"$dir/sim3.log" 2>&1 &
sim_pid=$!
i=0
while [ ! -s "$dir/ready3.json" ] && [ $i -lt 300 ]; do i=$((i + 1)); sleep 0.1; done
check "the simulator starts without postgres" test -s "$dir/ready3.json"
present=$(psql -X -At -d postgres -c "select count(*) from pg_database where datname = '${db}_untouched'")
check "no database without a postgres table" test "$present" = 0
kill "$sim_pid" 2>/dev/null
wait "$sim_pid" 2>/dev/null
sim_pid=

# In a rehearsal: the playbook connects to the declared database.
cat > "$dir/migrate.lua" <<'PLAYBOOK'
playbook {
  name = "migrate",
  steps = {
    step "Connect" {
      run = function()
        local c = aws.client{}
        local ep = c.rds.describe_db_instances{ DBInstanceIdentifier = "shop-db" }.DBInstances[1].Endpoint
        local conn = pg.connect{ host = ep.Address, port = ep.Port, dbname = "shop" }
        print("database=" .. conn:query_one("select current_database() as name").name)
        conn:close()
      end,
    },
  },
}
PLAYBOOK
"$MNEM" run --sim --scenario "$dir/shop.lua" "$dir/migrate.lua" --state-dir "$dir/state" >"$dir/out" 2>&1
status=$?
check "the rehearsal succeeds" test "$status" -eq 0
check "the playbook connects to the declared database" grep -q '^database=shop$' "$dir/out"
t_done
