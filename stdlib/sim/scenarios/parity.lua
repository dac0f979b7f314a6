-- The parity rehearsal: the nonprod "mnemosys" stack on the day its test
-- environment was brought level with dev.
--
-- It models what playbooks/env/dev.lua and test.lua describe. Dev runs on
-- RDS instance mnemosys-dev-postgres, ECS service mnemosys-dev-api and load
-- balancer mnemosys-dev-alb (port 80). Test has the ECS service
-- mnemosys-test-api (desired 1, running an older deployment) behind
-- mnemosys-test-alb (port 8080), and its SSM parameters /mnemosys/test/db/*
-- point at a PostgreSQL database in which schema "mnemosys" is missing, so
-- every test task runs the migration gate, fails `alembic check` with code
-- 255, logs the missing-schema error to /ecs/mnemosys-test-api and exits 1.
-- Once the schema exists, new tasks pass `alembic upgrade heads` (code 0 in
-- 4.98s), stay RUNNING, and GET /health/ on the test load balancer returns
-- {"status":"ok"}. The test service has no Application Auto Scaling target
-- (dev has one), and RDS instance mnemosys-test-postgres does not exist
-- yet. Creating it creates its DBName database on the PostgreSQL server.
--
-- Time runs 40 times faster than real time: creating an RDS instance
-- (creating 300 s, backing-up 120 s, modifying 90 s simulated) takes about
-- 13 real seconds, and an ECS deployment a few seconds.
--
-- The database the SSM parameters and every RDS endpoint point at comes
-- from the environment, set by `mnem run --sim` for its throwaway server:
--   MNEM_SIM_PG_HOST      default 127.0.0.1
--   MNEM_SIM_PG_PORT      default 5432
--   MNEM_SIM_PG_USER      default postgres
--   MNEM_SIM_PG_PASSWORD  default "mnem-sim-password" (stored as SecureString)
--   MNEM_SIM_PG_DBNAME    default postgres: the database the simulator
--                         connects to when it creates an instance's DBName
--
-- The test environment's SSM parameters still describe the database it used
-- before: the same server on a port where nothing listens (5439) and the
-- database mnemosys_test_old, so its tasks crash until a playbook writes
-- the new instance's endpoint there. Dev's point at database mnemosys_dev.
--   MNEM_SIM_REGION       default eu-west-1
local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

local region = env("MNEM_SIM_REGION", "eu-west-1")
local pg = {
  host = env("MNEM_SIM_PG_HOST", "127.0.0.1"),
  port = math.tointeger(tonumber(env("MNEM_SIM_PG_PORT", "5432"))) or 5432,
  user = env("MNEM_SIM_PG_USER", "postgres"),
  password = env("MNEM_SIM_PG_PASSWORD", "mnem-sim-password"),
  dbname = env("MNEM_SIM_PG_DBNAME", "postgres"),
}

-- The database each environment's SSM parameters point at before any playbook runs.
local OLD_DATABASE = {
  dev = { host = pg.host, port = pg.port, name = "mnemosys_dev" },
  test = { host = pg.host, port = 5439, name = "mnemosys_test_old" },
}

local DB_SECURITY_GROUP = "sg-0a1b2c3d4e5f60718"
local APP_SECURITY_GROUP = "sg-0d2e3f4a5b6c7d8e9"
local ALB_SECURITY_GROUP = "sg-0e3f4a5b6c7d8e9f0"
local VPC = "vpc-0a7b8c9d0e1f2a3b4"

local function db_parameters(env_name)
  local prefix = "/mnemosys/" .. env_name .. "/db/"
  local old = OLD_DATABASE[env_name]
  return {
    { name = prefix .. "host", value = old.host, type = "SecureString" },
    { name = prefix .. "port", value = tostring(old.port), type = "SecureString" },
    { name = prefix .. "name", value = old.name, type = "SecureString" },
    { name = prefix .. "admin_user", value = pg.user },
    { name = prefix .. "admin_password", value = pg.password, type = "SecureString" },
    { name = prefix .. "app_user", value = "mnemosys_app" },
    -- The throwaway server has no TLS, so sslmode is "disable"; real RDS parameters would contain "require".
    { name = prefix .. "sslmode", value = "disable" },
  }
end

local function all_parameters()
  local out = {}
  for _, env_name in ipairs({ "dev", "test" }) do
    for _, p in ipairs(db_parameters(env_name)) do out[#out + 1] = p end
  end
  return out
end

local function task_definition(family, revision, image_tag)
  return {
    family = family, revision = revision, networkMode = "awsvpc", requiresCompatibilities = { "FARGATE" },
    cpu = "512", memory = "1024",
    executionRoleArn = "arn:aws:iam::123456789012:role/mnemosys-ecs-execution",
    taskRoleArn = "arn:aws:iam::123456789012:role/" .. family,
    containerDefinitions = { {
      name = "api", image = "123456789012.dkr.ecr." .. region .. ".amazonaws.com/mnemosys-api:" .. image_tag,
      essential = true, portMappings = { { containerPort = 8000, protocol = "tcp" } },
      logConfiguration = { logDriver = "awslogs", options = {
        ["awslogs-group"] = "/ecs/" .. family, ["awslogs-region"] = region, ["awslogs-stream-prefix"] = "ecs",
      } },
    } },
  }
end

-- Lines each task writes when it starts: the container's entrypoint runs
-- the migration gate before the API server.
local GATE_FAILS = {
  "Running migration gate: alembic check",
  "FAILED: Target database is not up to date.",
  "Command finished with code 255 in 1.31s: alembic check",
  "Traceback (most recent call last):",
  '  File "/app/mnemosys/main.py", line 41, in <module>',
  "    app = create_app(settings)",
  '  File "/usr/local/lib/python3.12/site-packages/sqlalchemy/engine/default.py", line 941, in do_execute',
  "    cursor.execute(statement, parameters)",
  'sqlalchemy.exc.ProgrammingError: (psycopg2.errors.InvalidSchemaName) schema "{schema}" does not exist',
  "LINE 1: SELECT mnemosys.alembic_version.version_num FROM mnemosys.alembic_version",
}
local GATE_PASSES = {
  "Running migration gate: alembic upgrade heads",
  "Command finished with code 0 in 4.98s: alembic upgrade heads",
  "INFO:     Started server process [1]",
  "INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)",
}

return {
  account = "123456789012",
  region = region,
  any_region = true,
  credentials = { { access_key_id = "test", secret_access_key = "test" } },
  -- The AWS CLI profiles the team's environment files name; `mnem run --sim`
  -- points each of them at the simulator.
  profiles = { "mnemosys-dev", "mnemosys-test" },
  time_scale = 40,
  seed = 20240611,
  -- The server is the simulator's to change (it creates mnemosys_dev at
  -- start) only when it was given one, not a server that happens to
  -- listen on 127.0.0.1:5432.
  postgres = os.getenv("MNEM_SIM_PG_HOST") and pg or nil,

  sts = { user = "ops-rehearsal" },

  rds = {
    durations = { creating = 300, backing_up = 120, modifying = 90, deleting = 60 },
    endpoint = { address = pg.host, port = pg.port },
    subnet_groups = { {
      name = "mnemosys-nonprod-db", description = "mnemosys nonprod databases", vpc_id = VPC,
      subnets = { { id = "subnet-0a1b2c3d4e5f6a7b1", az = region .. "a" },
                  { id = "subnet-0a1b2c3d4e5f6a7b2", az = region .. "b" },
                  { id = "subnet-0a1b2c3d4e5f6a7b3", az = region .. "c" } },
    } },
    instances = { {
      identifier = "mnemosys-dev-postgres", engine = "postgres", engine_version = "16.4", class = "db.t4g.large",
      allocated_storage = 200, storage_type = "gp3", master_username = pg.user, db_name = "mnemosys_dev",
      subnet_group = "mnemosys-nonprod-db", security_groups = { DB_SECURITY_GROUP }, multi_az = true,
      backup_retention_period = 35, storage_encrypted = true, deletion_protection = true,
      performance_insights = true, performance_insights_retention_period = 7,
      tags = { environment = "dev", team = "mnemosys" },
    } },
  },

  ssm = { parameters = all_parameters() },

  logs = { groups = {
    { name = "/ecs/mnemosys-test-api", retention_in_days = 30 },
    { name = "/ecs/mnemosys-dev-api", retention_in_days = 30 },
  } },

  ecs = {
    timings = { provisioning = 20, pending = 40, crash_after = 30, stop = 60 },
    clusters = { "mnemosys-nonprod" },
    task_definitions = {
      task_definition("mnemosys-dev-api", 57, "2024.06.10-1"),
      task_definition("mnemosys-test-api", 41, "2024.05.28-3"),
    },
    services = {
      ["mnemosys-dev-api"] = {
        cluster = "mnemosys-nonprod", task_definition = "mnemosys-dev-api:57", desired = 1,
        target_group = "mnemosys-dev-tg", circuit_breaker = { enable = true, rollback = true },
        health_check_grace_period = 60, health = "healthy", logs = { healthy = GATE_PASSES },
        network_configuration = { awsvpcConfiguration = { subnets = { "subnet-0a1b2c3d4e5f6a7b1" },
                                                          securityGroups = { APP_SECURITY_GROUP },
                                                          assignPublicIp = "DISABLED" } },
      },
      ["mnemosys-test-api"] = {
        cluster = "mnemosys-nonprod", task_definition = "mnemosys-test-api:41", desired = 1,
        target_group = "mnemosys-test-tg", circuit_breaker = { enable = true, rollback = true },
        health_check_grace_period = 60,
        health = { requires_schema = "mnemosys", database_from_ssm = "/mnemosys/test/db/" },
        logs = { healthy = GATE_PASSES, unhealthy = GATE_FAILS },
        network_configuration = { awsvpcConfiguration = { subnets = { "subnet-0a1b2c3d4e5f6a7b1" },
                                                          securityGroups = { APP_SECURITY_GROUP },
                                                          assignPublicIp = "DISABLED" } },
      },
    },
  },

  elbv2 = {
    vpc_id = VPC,
    target_groups = {
      { name = "mnemosys-dev-tg", port = 8000, protocol = "HTTP", health_check_path = "/health/" },
      { name = "mnemosys-test-tg", port = 8000, protocol = "HTTP", health_check_path = "/health/" },
    },
    load_balancers = {
      { name = "mnemosys-dev-alb", security_groups = { ALB_SECURITY_GROUP },
        listeners = { { port = 80, protocol = "HTTP", target_group = "mnemosys-dev-tg" } } },
      { name = "mnemosys-test-alb", security_groups = { ALB_SECURITY_GROUP },
        listeners = { { port = 8080, protocol = "HTTP", target_group = "mnemosys-test-tg" } } },
    },
  },

  application_autoscaling = { targets = {
    { namespace = "ecs", resource_id = "service/mnemosys-nonprod/mnemosys-dev-api",
      dimension = "ecs:service:DesiredCount", min = 1, max = 2 },
  } },
}
