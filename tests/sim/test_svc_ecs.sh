# ECS, ELBv2 and CloudWatch Logs together through the real AWS CLI against
# `mnem sim serve` and a real PostgreSQL: tasks crash while their schema is
# missing and heal once the test creates it, the load balancer's health
# endpoint follows, and the circuit breaker fails a broken deployment.
. tests/lib/t.sh

DIR=$(mktemp -d "${MNEM_TEST_TMP:-/tmp}/svc-ecs.XXXXXX")
SVC_TEST_SCHEMA="svc_test_$$"
export SVC_TEST_SCHEMA
cat >"$DIR/scenario.lua" <<'LUA'
local schema = os.getenv("SVC_TEST_SCHEMA")
local function td(family)
  return { family = family, revision = 7, containerDefinitions = { {
    name = "web", image = "web:1", portMappings = { { containerPort = 8000 } },
    logConfiguration = { logDriver = "awslogs", options = { ["awslogs-group"] = "/ecs/" .. family,
                                                            ["awslogs-stream-prefix"] = "ecs" } } } } }
end
return {
  account = "123456789012", region = "us-east-1", time_scale = 20,
  credentials = { { access_key_id = "test", secret_access_key = "test" } },
  ssm = { parameters = {
    { name = "/web/db/host", value = os.getenv("PGHOST") or "127.0.0.1" },
    { name = "/web/db/port", value = os.getenv("PGPORT") or "5432" },
    { name = "/web/db/name", value = os.getenv("PGDATABASE") or "postgres" },
    { name = "/web/db/admin_user", value = os.getenv("PGUSER") or "postgres" },
    { name = "/web/db/admin_password", value = "unused-with-trust", type = "SecureString" },
  } },
  ecs = {
    timings = { provisioning = 5, pending = 15, crash_after = 10, stop = 20 },
    clusters = { "c" },
    task_definitions = { td("web"), td("broken") },
    services = {
      web = { cluster = "c", task_definition = "web:7", desired = 1, target_group = "web-tg",
              health = { requires_schema = schema, database_from_ssm = "/web/db/" },
              logs = { unhealthy = { "Command finished with code 255 in 1.31s: alembic check",
                                     'sqlalchemy.exc.ProgrammingError: (psycopg2.errors.InvalidSchemaName) schema "{schema}" does not exist' },
                       healthy = { "Command finished with code 0 in 4.98s: alembic upgrade heads" } } },
      broken = { cluster = "c", task_definition = "broken:7", desired = 1, health = "unhealthy",
                 circuit_breaker = { enable = true, rollback = false } },
    },
  },
  elbv2 = { target_groups = { { name = "web-tg", port = 8000, health_check_path = "/health/" } },
            load_balancers = { { name = "web-alb", listeners = { { port = 80, target_group = "web-tg" } } } } },
}
LUA

if [ -z "${MNEM_TEST_PG:-}" ]; then
  t_skip "ecs and elbv2 through the aws cli" "no PostgreSQL server from tests/run (MNEM_TEST_PG unset)"
  t_done; exit
fi
. tests/lib/sim_cli.sh

if ! "$MNEM" help sim >/dev/null 2>&1; then
  t_skip "ecs and elbv2 through the aws cli" "this build has no mnem sim command yet"
  t_done; exit
fi
if ! sim_start; then
  t_fail "simulator starts" "$(tail -n 5 "$DIR/sim.log")"
  t_done; exit
fi

# health [ARGS]: the load balancer's /health/ status code through curl --connect-to.
health() {
  CONNECT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["connect_to"][0])' "$DIR/ready.json")
  DNS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["listeners"][0]["dns_name"])' "$DIR/ready.json")
  curl -s -o "$DIR/health.body" -w '%{http_code}' --connect-to "$CONNECT" "http://$DNS:80/health/"
}
# wait_for SECONDS PYTHON-EXPRESSION COMMAND...: polls until the expression
# holds. An expression that does not compile fails at once instead of
# polling until the limit.
wait_for() {
  limit=$1 expr=$2; shift 2
  python3 -c 'import sys; compile(sys.argv[1], "<check>", "eval")' "$expr" || return 1
  end=$(( $(date +%s) + limit ))
  while [ "$(date +%s)" -lt "$end" ]; do
    if "$@" 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if eval(sys.argv[1]) else 1)' "$expr"
    then return 0; fi
    sleep 0.5
  done
  return 1
}

expect "cluster is described" 'd["clusters"][0]["clusterName"] == "c" and d["clusters"][0]["activeServicesCount"] == 2' \
  awsj ecs describe-clusters --clusters c
expect "task definition has awslogs" '
d["taskDefinition"]["containerDefinitions"][0]["logConfiguration"]["options"]["awslogs-group"] == "/ecs/web"' \
  awsj ecs describe-task-definition --task-definition web
expect_error "unknown cluster" ClusterNotFoundException awsj ecs describe-services --cluster nope --services web

check "tasks crash while the schema is missing" wait_for 30 'len(d["taskArns"]) >= 1' \
  awsj ecs list-tasks --cluster c --service-name web --desired-status STOPPED
STOPPED=$(awsj ecs list-tasks --cluster c --service-name web --desired-status STOPPED |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["taskArns"][0])')
expect "stopped task explains itself" '
(lambda t: t["lastStatus"] == "STOPPED" and t["stopCode"] == "EssentialContainerExited"
 and t["stoppedReason"] == "Essential container in task exited" and t["containers"][0]["exitCode"] == 1
 and t["group"] == "service:web" and "stoppedAt" in t and "startedAt" in t)(d["tasks"][0])' \
  awsj ecs describe-tasks --cluster c --tasks "$STOPPED"
TASK_ID=${STOPPED##*/}
expect "crash is in the task's log stream" '
any("does not exist" in e["message"] and "'"$SVC_TEST_SCHEMA"'" in e["message"] for e in d["events"])' \
  awsj logs get-log-events --log-group-name /ecs/web --log-stream-name "ecs/web/$TASK_ID"
check "health endpoint is 503 while unhealthy" sh -c '[ "$1" = 503 ]' _ "$(health)"
TG=$(awsj elbv2 describe-target-groups --names web-tg | python3 -c 'import json,sys; print(json.load(sys.stdin)["TargetGroups"][0]["TargetGroupArn"])')
expect "load balancer is described" 'd["LoadBalancers"][0]["DNSName"].endswith(".elb.localhost")' \
  awsj elbv2 describe-load-balancers --names web-alb
expect_error "unknown load balancer" LoadBalancerNotFound awsj elbv2 describe-load-balancers --names nope
LB=$(awsj elbv2 describe-load-balancers --names web-alb | python3 -c 'import json,sys; print(json.load(sys.stdin)["LoadBalancers"][0]["LoadBalancerArn"])')
expect "listener forwards to the group" 'd["Listeners"][0]["Port"] == 80 and d["Listeners"][0]["DefaultActions"][0]["TargetGroupArn"] == "'"$TG"'"' \
  awsj elbv2 describe-listeners --load-balancer-arn "$LB"

check "create the schema" psql -q -v ON_ERROR_STOP=1 -c "CREATE SCHEMA \"$SVC_TEST_SCHEMA\""
check "service heals once the schema exists" wait_for 60 '
d["services"][0]["runningCount"] == 1 and "steady state" in d["services"][0]["events"][0]["message"]' \
  awsj ecs describe-services --cluster c --services web
check "health endpoint is 200" sh -c '[ "$1" = 200 ]' _ "$(health)"
check "health body is ok" sh -c 'grep -q "\"status\":\"ok\"" "$1"' _ "$DIR/health.body"
expect "target is healthy" '[t["TargetHealth"]["State"] for t in d["TargetHealthDescriptions"]] == ["healthy"]' \
  awsj elbv2 describe-target-health --target-group-arn "$TG"
expect "migration gate passed in the logs" 'len(d["events"]) >= 1' \
  awsj logs filter-log-events --log-group-name /ecs/web --filter-pattern '"code 0" "alembic upgrade heads"'

expect "forced deployment starts" 'len(d["service"]["deployments"]) == 2 and d["service"]["deployments"][0]["rolloutState"] == "IN_PROGRESS"' \
  awsj ecs update-service --cluster c --service web --force-new-deployment --desired-count 2
check "deployment completes" wait_for 60 '(
len(d["services"][0]["deployments"]) == 1 and d["services"][0]["deployments"][0]["rolloutState"] == "COMPLETED"
and d["services"][0]["runningCount"] == 2)' awsj ecs describe-services --cluster c --services web

expect "breaker deployment starts" 'd["service"]["deployments"][0]["rolloutState"] == "IN_PROGRESS"' \
  awsj ecs update-service --cluster c --service broken --force-new-deployment
check "circuit breaker fails the deployment" wait_for 60 '
d["services"][0]["deployments"][0]["rolloutState"] == "FAILED" and d["services"][0]["deployments"][0]["failedTasks"] >= 3' \
  awsj ecs describe-services --cluster c --services broken
expect "failure event is recorded" 'any("deployment failed: tasks failed to start." in e["message"] for e in d["services"][0]["events"])' \
  awsj ecs describe-services --cluster c --services broken

psql -q -c "DROP SCHEMA IF EXISTS \"$SVC_TEST_SCHEMA\"" >/dev/null 2>&1

t_done
