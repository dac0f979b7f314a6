-- nonprod-parity: recreate an environment's PostgreSQL instance, point the
-- API at it, bootstrap its schema, redeploy the API and verify the result.
--
--   mnem run playbooks/nonprod-parity.lua --var environment=test
--   mnem run --sim playbooks/nonprod-parity.lua     (local simulator, no AWS account)
--
-- Every environment-specific value (account, region, profile, names, ids,
-- ports) comes from env/<environment>.lua beside this file. Each step is
-- skipped when its work is already in place, so a second run changes
-- nothing.
local environment = require("recipes.environment")
local aws_account = require("recipes.aws_account")
local rds_instance = require("recipes.rds_instance")
local ssm_parameters = require("recipes.ssm_parameters")
local pg_schema = require("recipes.pg_schema")
local ecs_deploy = require("recipes.ecs_deploy")
local service_checks = require("recipes.service_checks")

local settings = environment.loader("env")

local function database(ctx)
  local s = settings(ctx)
  local db = {}
  for k, v in pairs(s.database) do db[k] = v end
  -- The admin credentials come from SSM at run time, never from a file.
  local creds = ctx.outputs["Read the database credentials"]
  db.master_username, db.master_password = creds.admin_user, creds.admin_password
  return db
end

playbook {
  name = "nonprod-parity",
  description = "Recreate the environment's PostgreSQL instance, point the API at it, "
    .. "bootstrap the schema, redeploy the API and verify it is healthy",
  vars = {
    environment = { type = "string", default = "test", choices = { "dev", "test" },
                    description = "which env/<name>.lua settings file to use" },
  },
  deadline = "90m",
  retry = {
    { match = { "Throttling", "ThrottlingException", "RequestLimitExceeded", 500, 502, 503, 504 },
      interval = "2s", backoff = 2, max_delay = "30s", jitter = "full", max_attempts = 4 },
  },
  follow_up = {
    "Decide whether the test instance still needs Multi-AZ: it doubles the instance cost",
  },
  steps = {
    step "Check who we are" (aws_account.check_identity(function(ctx)
      local s = settings(ctx)
      return { account = s.account, profile = s.profile, region = s.region }
    end)),

    step "Read the database credentials" {
      description = "Read the admin user and password and the app user from SSM (SecureString, decrypted)",
      run = function(ctx)
        local values = ssm_parameters.read(settings(ctx).parameters, { "admin_user", "admin_password", "app_user" })
        return { admin_user = values.admin_user, admin_password = values.admin_password,
                 app_user = values.app_user, sslmode = values.sslmode or "require" }
      end,
    },

    step "Create the database instance" (rds_instance.ensure(database)),

    step "Write the connection parameters" (ssm_parameters.write(function(ctx)
      local db = ctx.outputs["Create the database instance"]
      return { prefix = settings(ctx).parameters, type = "SecureString",
               values = { host = db.address, port = db.port, name = db.db_name } }
    end)),

    step "Bootstrap the schema" (pg_schema.bootstrap(function(ctx)
      local s, db = settings(ctx), ctx.outputs["Create the database instance"]
      local creds = ctx.outputs["Read the database credentials"]
      return {
        connection = { host = db.address, port = db.port, dbname = db.db_name, user = creds.admin_user,
                       password = creds.admin_password, sslmode = creds.sslmode },
        schema = s.schema.name, app_role = creds.app_user, privileges = s.schema.privileges,
      }
    end)),

    step "Redeploy the API" (ecs_deploy.redeploy(function(ctx)
      local svc = settings(ctx).service
      return {
        cluster = svc.cluster, service = svc.name, desired_count = svc.desired_count,
        health_check_grace_period = svc.health_check_grace_period,
        minimum_healthy_percent = svc.minimum_healthy_percent, maximum_percent = svc.maximum_percent,
        circuit_breaker = { enable = true, rollback = true }, timeout = svc.deploy_timeout,
        needs_restart = function()
          return ctx.outputs["Write the connection parameters"].written > 0
            or ctx.outputs["Bootstrap the schema"].created
        end,
      }
    end)),

    step "Check there is no autoscaling" (service_checks.no_scalable_targets(function(ctx)
      local svc = settings(ctx).service
      return { cluster = svc.cluster, service = svc.name }
    end)),

    step "Check the health endpoint" (service_checks.load_balancer_health(function(ctx)
      local lb = settings(ctx).load_balancer
      return { name = lb.name, port = lb.port, path = lb.health_path, expect_json = { status = "ok" } }
    end)),

    step "Verify the database settings" (rds_instance.verify(database)),

    step "Check the migration gate" (service_checks.migration_gate(function(ctx)
      local s = settings(ctx)
      return { log_group = s.service.log_group, required = s.migration_gate.required }
    end)),
  },
}
