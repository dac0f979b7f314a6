-- recipes.rds_instance: an RDS instance ensured to exist with a baseline
-- of settings, and verified against that baseline afterwards.
--
--   step "Create the database instance" (rds_instance.ensure(db_settings))
--   step "Verify the database settings" (rds_instance.verify(db_settings))
--
-- SETTINGS(ctx) returns a table: identifier, engine, engine_version, class,
-- storage_type, allocated_storage, iops, storage_throughput, multi_az,
-- backup_retention_days, encrypted, deletion_protection,
-- performance_insights_retention_days, subnet_group, security_groups,
-- master_username, master_password (a function(ctx) or a string; it is
-- marked secret), db_name, port, tags, wait_timeout (default "40m"),
-- wait_interval (default: the waiter's 30 s). ensure and verify take the
-- same settings, so both accept every one of them. Unknown settings and
-- values of the wrong type raise (see recipes.settings).
local aws = require("aws")
local dryrun = require("mnem.dryrun")
local errors = require("mnem.errors")
local secret = require("mnem.secret")
local settings_check = require("recipes.settings")

local M = {}

-- The settings of ensure and verify, as recipes.settings declares them.
local FIELDS = {
  identifier = { type = "string", required = true },
  engine = { type = "string" },
  engine_version = { type = "string" },
  class = { type = "string" },
  storage_type = { type = "string" },
  allocated_storage = { type = "integer" },
  iops = { type = "integer" },
  storage_throughput = { type = "integer" },
  multi_az = { type = "boolean" },
  backup_retention_days = { type = "integer" },
  encrypted = { type = "boolean" },
  deletion_protection = { type = "boolean" },
  performance_insights_retention_days = { type = "integer" },
  subnet_group = { type = "string" },
  security_groups = { type = "list", items = { type = "string" } },
  master_username = { type = "string" },
  master_password = { type = { "string", "function" } },
  db_name = { type = "string" },
  port = { type = "integer" },
  tags = { type = "map", values = { type = "string" } },
  wait_timeout = { type = "duration" },
  wait_interval = { type = "duration" },
}

-- Returns a function of the step context that calls SETTINGS(ctx) and
-- checks its result for the recipe function RECIPE.
local function checked_settings(recipe, settings)
  settings_check.expect_function(recipe, settings)
  return function(ctx) return settings_check.read(recipe, settings, ctx, FIELDS) end
end

local function describe(identifier)
  local out, err = aws.try(aws.rds.describe_db_instances, { DBInstanceIdentifier = identifier })
  if out then return out.DBInstances[1] end
  if err.code == "DBInstanceNotFound" then return nil end
  error(err, 0)
end

local function instance_outputs(db, created)
  return {
    identifier = db.DBInstanceIdentifier,
    arn = db.DBInstanceArn,
    status = db.DBInstanceStatus,
    address = db.Endpoint and db.Endpoint.Address,
    port = db.Endpoint and db.Endpoint.Port,
    db_name = db.DBName,
    created = created or false,
  }
end

local function create_params(s, password)
  local params = {
    DBInstanceIdentifier = s.identifier,
    Engine = s.engine or "postgres",
    EngineVersion = s.engine_version,
    DBInstanceClass = s.class,
    StorageType = s.storage_type,
    AllocatedStorage = s.allocated_storage,
    Iops = s.iops,
    StorageThroughput = s.storage_throughput,
    MultiAZ = s.multi_az,
    BackupRetentionPeriod = s.backup_retention_days,
    StorageEncrypted = s.encrypted,
    DeletionProtection = s.deletion_protection,
    EnablePerformanceInsights = s.performance_insights_retention_days ~= nil,
    PerformanceInsightsRetentionPeriod = s.performance_insights_retention_days,
    DBSubnetGroupName = s.subnet_group,
    VpcSecurityGroupIds = s.security_groups,
    MasterUsername = s.master_username,
    MasterUserPassword = password,
    DBName = s.db_name,
    Port = s.port,
    PubliclyAccessible = false,
  }
  if s.tags then
    params.Tags = {}
    for key, value in pairs(s.tags) do params.Tags[#params.Tags + 1] = { Key = key, Value = value } end
    table.sort(params.Tags, function(a, b) return a.Key < b.Key end)
  end
  return params
end

local function is_storage_combination_error(err)
  if not errors.is(err) or err.code ~= "InvalidParameterCombination" then return false end
  local message = (err.message or ""):lower()
  return message:find("iops", 1, true) ~= nil or message:find("throughput", 1, true) ~= nil
end

local function master_password(ctx, s)
  local value = s.master_password
  if type(value) == "function" then value = value(ctx) end
  if value == nil then
    error(("rds_instance: settings for %s need master_password"):format(s.identifier), 0)
  end
  return secret.mark(value)
end

-- Creates the instance; when RDS rejects explicit IOPS or throughput for
-- storage that is too small, retries once without them and logs why.
local function create(ctx, s)
  local params = create_params(s, master_password(ctx, s))
  local out, err = aws.try(aws.rds.create_db_instance, params)
  if not out and is_storage_combination_error(err) and (params.Iops or params.StorageThroughput) then
    local dropped = ("Iops=%s, StorageThroughput=%s"):format(tostring(params.Iops), tostring(params.StorageThroughput))
    local reason = (err.message or ""):gsub("%.$", "")
    ctx.warn(("RDS rejected explicit storage performance for %d GB of %s (%s). Retrying without %s: "
      .. "gp3 gives its baseline performance at this size"):format(s.allocated_storage or 0,
      s.storage_type or "storage", reason, dropped))
    params.Iops, params.StorageThroughput = nil, nil
    out = aws.rds.create_db_instance(params)
    ctx.problem{
      summary = "CreateDBInstance rejected " .. dropped .. " (InvalidParameterCombination: " .. reason .. ")",
      resolution = "created the instance without explicit IOPS and throughput",
    }
  elseif not out then
    error(err, 0)
  end
  ctx.change{ action = "created", resource = "rds:db-instance", id = s.identifier,
              details = { class = s.class, storage = s.allocated_storage, iops_dropped = params.Iops == nil
                          and s.iops ~= nil or nil } }
  return out.DBInstance
end

local function wait_available(s, leave_state)
  local options = { timeout = s.wait_timeout or "40m", interval = s.wait_interval,
                    description = "RDS instance " .. s.identifier .. " available" }
  if leave_state then options.leave_state = leave_state end
  aws.rds.wait("db_instance_available", { DBInstanceIdentifier = s.identifier }, options)
  return describe(s.identifier)
end

--- Returns the fields of a step that makes sure the instance exists and is
-- available: skipped (with the instance's endpoint as outputs) when it
-- already is; otherwise it creates it or waits for it. Its rollback
-- deletes an instance this run created (turning deletion protection off
-- first), keeping no final snapshot.
function M.ensure(settings)
  settings = checked_settings("rds_instance.ensure", settings)
  return {
    description = "Create the RDS instance if it is missing, then wait until it is available",
    already_done = function(ctx)
      local s = settings(ctx)
      local db = describe(s.identifier)
      if db and db.DBInstanceStatus == "available" then return instance_outputs(db, false) end
      return false
    end,
    run = function(ctx)
      local s = settings(ctx)
      local db = describe(s.identifier)
      local created = false
      if not db then
        ctx.log.info(("RDS instance %s not found: creating it"):format(s.identifier))
        create(ctx, s)
        created = true
        if ctx.dry_run then return dryrun.unknown(ctx.step, "the new instance") end
      else
        ctx.log.info(("RDS instance %s exists in state %s: waiting for it"):format(s.identifier, db.DBInstanceStatus))
      end
      db = wait_available(s)
      return instance_outputs(db, created)
    end,
    rollback = function(ctx, outputs)
      if not outputs or not outputs.created then return end
      local s = settings(ctx)
      local db = describe(s.identifier)
      if not db then return end
      if db.DeletionProtection then
        aws.rds.modify_db_instance{ DBInstanceIdentifier = s.identifier, DeletionProtection = false,
                                    ApplyImmediately = true }
        wait_available(s, "available")
      end
      aws.rds.delete_db_instance{ DBInstanceIdentifier = s.identifier, SkipFinalSnapshot = true,
                                  DeleteAutomatedBackups = true }
      ctx.change{ action = "deleted", resource = "rds:db-instance", id = s.identifier }
    end,
  }
end

-- The baseline: setting name -> { AWS field reader, expected value }.
local function baseline(s)
  local groups = {}
  for _, id in ipairs(s.security_groups or {}) do groups[#groups + 1] = id end
  table.sort(groups)
  return {
    { "engine", function(db) return db.Engine end, s.engine or "postgres" },
    { "class", function(db) return db.DBInstanceClass end, s.class },
    { "storage_type", function(db) return db.StorageType end, s.storage_type },
    { "allocated_storage", function(db) return db.AllocatedStorage end, s.allocated_storage },
    { "multi_az", function(db) return db.MultiAZ end, s.multi_az },
    { "backup_retention_days", function(db) return db.BackupRetentionPeriod end, s.backup_retention_days },
    { "encrypted", function(db) return db.StorageEncrypted end, s.encrypted },
    { "deletion_protection", function(db) return db.DeletionProtection end, s.deletion_protection },
    { "performance_insights_retention_days", function(db)
        return db.PerformanceInsightsEnabled and db.PerformanceInsightsRetentionPeriod or nil
      end, s.performance_insights_retention_days },
    { "subnet_group", function(db) return db.DBSubnetGroup and db.DBSubnetGroup.DBSubnetGroupName end,
      s.subnet_group },
    { "security_groups", function(db)
        local ids = {}
        for _, g in ipairs(db.VpcSecurityGroups or {}) do ids[#ids + 1] = g.VpcSecurityGroupId end
        table.sort(ids)
        return table.concat(ids, ",")
      end, #groups > 0 and table.concat(groups, ",") or nil },
    { "engine_major_version", function(db) return (db.EngineVersion or ""):match("^(%d+)") end,
      s.engine_version and tostring(s.engine_version):match("^(%d+)") },
  }
end

--- Returns the fields of a step that compares the instance with its
-- baseline settings and fails listing every difference. Read-only.
function M.verify(settings)
  settings = checked_settings("rds_instance.verify", settings)
  return {
    description = "Compare the RDS instance's settings with the environment's baseline",
    run = function(ctx)
      local s = settings(ctx)
      local db = describe(s.identifier)
      if not db then
        dryrun.missing_change(("RDS instance %s does not exist yet"):format(s.identifier))
        errors.raise{ kind = "aws", code = "DBInstanceNotFound", service = "rds",
                      message = ("RDS instance %s does not exist, so it cannot match its baseline")
                        :format(s.identifier) }
      end
      local differences, checked = {}, 0
      for _, entry in ipairs(baseline(s)) do
        local name, read, expected = entry[1], entry[2], entry[3]
        if expected ~= nil then
          checked = checked + 1
          local actual = read(db)
          if actual ~= expected then
            differences[#differences + 1] = ("%s is %s, baseline %s"):format(name, tostring(actual), tostring(expected))
          end
        end
      end
      if #differences > 0 then
        errors.raise{ kind = "baseline", code = "BaselineMismatch",
                      message = ("RDS instance %s differs from its baseline: %s"):format(s.identifier,
                        table.concat(differences, "; ")) }
      end
      ctx.log.info(("RDS instance %s matches its baseline (%d settings checked)"):format(s.identifier, checked))
      return { checked = checked, iops = db.Iops, storage_throughput = db.StorageThroughput }
    end,
  }
end

--- The settings each recipe function accepts, as recipes.settings declares
-- them: function name -> setting name -> { type, required, ... }.
M.FIELDS = { ensure = FIELDS, verify = FIELDS }

return M
