-- The simulator scenario of the benchmarks (bench/run.py starts
-- `mnem sim serve --scenario bench/scenario.lua`).
--
-- It contains everything the read-only checks of the parity playbook look at,
-- already in place, so no benchmark waits on simulated time: an available
-- RDS instance, an ECS service with two running healthy tasks behind a
-- load balancer, its Application Auto Scaling target, and a log stream of
-- 60 events, 12 of them matching the filter pattern "ERROR". No load
-- balancer has a listener, so the simulator opens no port besides its own.
local REGION = "eu-west-1"

local function log_events()
  local events = {}
  local base = 1717000000000
  for i = 1, 60 do
    local level = i % 5 == 0 and "ERROR" or "INFO"
    events[i] = { timestamp = base + i * 1000,
                  message = ("%s request %d served by the benchmark task in %d ms"):format(level, i, 3 + i % 7) }
  end
  return events
end

return {
  account = "123456789012",
  region = REGION,
  credentials = { { access_key_id = "test", secret_access_key = "test" } },
  time_scale = 1,
  seed = 20240611,

  sts = { user = "bench" },

  ssm = { parameters = {
    { name = "/bench/param", value = "postgres://bench-postgres.internal:5432/bench" },
  } },

  rds = { instances = { {
    identifier = "bench-postgres", engine = "postgres", engine_version = "16.4", class = "db.t4g.medium",
    allocated_storage = 50, storage_type = "gp3", master_username = "bench", db_name = "bench",
    multi_az = false, backup_retention_period = 7, storage_encrypted = true,
    tags = { environment = "bench" },
  } } },

  logs = { groups = { {
    name = "/ecs/bench-api", retention_in_days = 7,
    streams = { { name = "ecs/api/bench", events = log_events() } },
  } } },

  ecs = {
    clusters = { "bench" },
    task_definitions = { {
      family = "bench-api", revision = 1, networkMode = "awsvpc", requiresCompatibilities = { "FARGATE" },
      cpu = "256", memory = "512",
      containerDefinitions = { {
        name = "api", image = "123456789012.dkr.ecr." .. REGION .. ".amazonaws.com/bench-api:1", essential = true,
        portMappings = { { containerPort = 8000, protocol = "tcp" } },
      } },
    } },
    services = {
      ["bench-api"] = {
        cluster = "bench", task_definition = "bench-api:1", desired = 2, target_group = "bench-tg",
        health = "healthy",
      },
    },
  },

  elbv2 = {
    target_groups = { { name = "bench-tg", port = 8000, protocol = "HTTP", health_check_path = "/health/" } },
    load_balancers = { { name = "bench-alb" } },
  },

  application_autoscaling = { targets = {
    { namespace = "ecs", resource_id = "service/bench/bench-api", dimension = "ecs:service:DesiredCount",
      min = 2, max = 4 },
  } },
}
