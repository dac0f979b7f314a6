-- sim.services.rds: the simulated Amazon RDS DB instances and subnet groups.
--
-- An instance moves through timed phases (creating, backing-up, modifying
-- for CreateDBInstance; modifying for ModifyDBInstance with
-- ApplyImmediately; deleting for DeleteDBInstance). Phases end at simulated
-- times, and every operation first advances the instances to world:now().
--
-- Scenario section (all optional):
--   rds = {
--     durations = { creating = 300, backing_up = 120, modifying = 90, modifying_settings = 15, deleting = 60 },
--     endpoint = { address = "127.0.0.1", port = 5432 },  -- every new instance
--     subnet_groups = { { name =, description =, vpc_id =, subnets = { { id =, az = } } } },
--     instances = { { identifier =, engine =, class =, allocated_storage =, ... } },
--   }
-- Pre-existing instances take the CreateDBInstance member names in snake
-- case or in AWS spelling (DBInstanceIdentifier, Engine, ...) and start
-- out available.
local common = require("sim.services.common")
local log = require("mnem.log")
local model = require("aws.model")
local secret = require("mnem.secret")
local validate = require("aws.validate")

local M = {}

local function rds_model() return model.load("rds") end

M.model = "rds"

-- Phase durations in simulated seconds. modifying_settings is the short
-- `modifying` phase of a setting applied at once (an estimate).
local DEFAULT_DURATIONS = { creating = 300, backing_up = 120, modifying = 90, modifying_settings = 15, deleting = 60 }

-- Engines the simulator accepts, with the default version and port.
local ENGINES = {
  postgres = { version = "16.3", port = 5432, family = "postgres16" },
  mysql = { version = "8.0.35", port = 3306, family = "mysql8.0" },
  mariadb = { version = "10.11.6", port = 3306, family = "mariadb10.11" },
  ["aurora-postgresql"] = { version = "16.1", port = 5432, family = "aurora-postgresql16" },
  ["aurora-mysql"] = { version = "8.0.mysql_aurora.3.05.2", port = 3306, family = "aurora-mysql8.0" },
}

-- States in which ModifyDBInstance and DeleteDBInstance are accepted.
local SETTLED = { available = true, stopped = true, ["storage-full"] = true, failed = true }

local function state(world)
  return common.state(world, "rds")
end

local function current_status(inst)
  local phase = inst.phases[1]
  return phase and phase.status or inst.settled_status
end

-- Moves the pending modifications into the instance itself.
local function apply_pending(inst)
  for k, v in pairs(inst.pending) do
    if k ~= "MasterUserPassword" then inst.fields[k] = v end
  end
  inst.pending = {}
end

-- Returns the pg.connect settings of an administrator connection to the
-- PostgreSQL server at INST's endpoint. The user, password and maintenance
-- database come from the scenario's `postgres` table when it names a user
-- (the server the simulator was given), else from the instance's master
-- user and password and database "postgres".
local function admin_connection(world, inst)
  local ep = inst.fields.Endpoint
  local server = type(world.scenario.postgres) == "table" and world.scenario.postgres or {}
  local settings = { host = ep.Address, port = tostring(ep.Port), connect_timeout = 5,
                     dbname = type(server.dbname) == "string" and server.dbname or "postgres" }
  if type(server.user) == "string" then
    settings.user, settings.password = server.user, server.password
  else
    settings.user, settings.password = inst.fields.MasterUsername, inst.password
  end
  return settings
end

-- Creates the instance's initial database (DBName) on the scenario's
-- PostgreSQL server when it is missing, as RDS does at the end of
-- `creating`. A failure is logged, not raised: the instance still becomes
-- available.
local function create_initial_database(world, inst)
  local name = inst.fields.DBName
  if not name or not inst.real_endpoint or not inst.fields.Engine:find("postgres", 1, true) then return end
  local loaded, pg = pcall(require, "pg")
  local ok, err = loaded, pg
  if loaded then
    ok, err = pcall(function()
      local conn <close> = pg.connect(admin_connection(world, inst))
      if not conn:query_one("select 1 as present from pg_database where datname = $1", name) then
        conn:exec("CREATE DATABASE " .. pg.quote_ident(name))
      end
    end)
  end
  if not ok then
    log.warn("sim rds: could not create the instance's initial database",
      { instance = inst.fields.DBInstanceIdentifier, database = name, error = tostring(err) })
  end
end

-- Ends every phase of INST that is over at time NOW; returns false once the
-- instance has been deleted.
local function advance_instance(world, inst, now)
  while inst.phases[1] and inst.phases[1].ends <= now do
    local phase = table.remove(inst.phases, 1)
    if phase.status == "creating" then
      inst.fields.InstanceCreateTime = phase.ends
      create_initial_database(world, inst)
    end
    if phase.apply_pending then apply_pending(inst) end
    if phase.status == "deleting" then return false end
  end
  return true
end

local function advance(world)
  local st = state(world)
  local now = world:now()
  for id, inst in pairs(st.instances) do
    if not advance_instance(world, inst, now) then st.instances[id] = nil end
  end
end

local function subnet_group_output(group, region)
  local subnets = {}
  for i, s in ipairs(group.subnets or {}) do
    subnets[#subnets + 1] = {
      SubnetIdentifier = s.id or s.SubnetIdentifier or ("subnet-%017x"):format(i),
      SubnetAvailabilityZone = { Name = s.az or s.availability_zone or (region .. string.char(96 + i)) },
      SubnetOutpost = {},
      SubnetStatus = "Active",
    }
  end
  return {
    DBSubnetGroupName = group.name,
    DBSubnetGroupDescription = group.description or group.name,
    VpcId = group.vpc_id or "vpc-0a1b2c3d4e5f60718",
    SubnetGroupStatus = "Complete",
    Subnets = subnets,
    DBSubnetGroupArn = group.arn,
    SupportedNetworkTypes = { "IPV4" },
  }
end

-- Returns the DescribeDBInstances shape of INST.
local function instance_output(world, inst)
  local f = inst.fields
  local status = current_status(inst)
  local out = common.copy(f)
  out.DBInstanceStatus = status
  out.PendingModifiedValues = {}
  for k, v in pairs(inst.pending) do
    out.PendingModifiedValues[k] = (k == "MasterUserPassword") and "****" or common.copy(v)
  end
  if status == "creating" then
    out.Endpoint = nil
    out.InstanceCreateTime = nil
  else
    out.LatestRestorableTime = common.iso(world:now() - 300)
  end
  local st = state(world)
  local group = st.subnet_groups[f.DBSubnetGroupName or "default"]
  out.DBSubnetGroupName = nil
  if group then out.DBSubnetGroup = subnet_group_output(group, inst.region) end
  if type(out.InstanceCreateTime) == "number" then out.InstanceCreateTime = common.iso(out.InstanceCreateTime) end
  return out
end

local function find_instance(ctx, id)
  local inst = state(ctx.world).instances[id]
  if not inst then ctx.fail("DBInstanceNotFound", ("DBInstance %s not found."):format(id), 404) end
  return inst
end

local function endpoint_for(world, identifier, region, engine)
  local ep = state(world).endpoint
  if ep then
    return { Address = ep.address or ep.Address, Port = math.tointeger(ep.port or ep.Port) or ENGINES[engine].port,
             HostedZoneId = "Z29XKXDKYMONMX" }
  end
  return { Address = ("%s.cabcdefghijk.%s.rds.amazonaws.com"):format(identifier, region),
           Port = ENGINES[engine].port, HostedZoneId = "Z29XKXDKYMONMX" }
end

-- Checks the storage settings of a new or modified instance (AWS rules for
-- PostgreSQL on gp3: a size below 400 GiB has a fixed baseline of 3000 IOPS
-- and 125 MiB/s, which the caller may not set).
local function check_storage(ctx, engine, storage_type, size, iops, throughput)
  if size == nil then return end
  local minimum = (storage_type == "io1" or storage_type == "io2") and 100 or 20
  if size < minimum or size > 65536 then
    ctx.fail("InvalidParameterValue",
      ("Invalid storage size for engine name %s and storage type %s: %d"):format(engine, storage_type, size), 400)
  end
  if storage_type == "gp3" and (iops ~= nil or throughput ~= nil) and size < 400
     and (engine == "postgres" or engine == "mysql" or engine == "mariadb") then
    ctx.fail("InvalidParameterCombination",
      ("You can't specify IOPS or storage throughput for engine %s and a storage size less than 400."):format(engine),
      400)
  end
  if (storage_type == "io1" or storage_type == "io2") and iops == nil then
    ctx.fail("InvalidParameterCombination", "Provisioned IOPS storage requires the Iops parameter.", 400)
  end
  if storage_type == "gp2" and iops ~= nil then
    ctx.fail("InvalidParameterCombination", "You can't specify IOPS for storage type gp2.", 400)
  end
end

-- Returns the IOPS and throughput AWS reports for STORAGE_TYPE and SIZE
-- when the caller set none: the gp3 baseline.
local function storage_defaults(storage_type, size, iops, throughput)
  if storage_type ~= "gp3" then return iops, throughput end
  if size >= 400 then return iops or 12000, throughput or 500 end
  return iops or 3000, throughput or 125
end

local function check_class(ctx, class)
  if type(class) ~= "string" or not class:match("^db%.[%w]+%.[%w]+$") then
    ctx.fail("InvalidParameterValue", ("Invalid DB Instance class: %s"):format(tostring(class)), 400)
  end
end

local function check_identifier(ctx, id)
  if not id:match("^%a[%w%-]*$") or id:find("%-%-") or id:sub(-1) == "-" or #id > 63 then
    ctx.fail("InvalidParameterValue", "The parameter DBInstanceIdentifier is not a valid identifier. Identifiers "
      .. "must begin with a letter; must contain only ASCII letters, digits, and hyphens; and must not end with "
      .. "a hyphen or contain two consecutive hyphens.", 400)
  end
end

local function security_groups(ids)
  local out = {}
  for _, id in ipairs(ids or { "sg-0123456789abcdef0" }) do
    out[#out + 1] = { VpcSecurityGroupId = id, Status = "active" }
  end
  return out
end

-- Builds the stored fields of a new instance from CreateDBInstance INPUT.
local function new_fields(ctx, input, region)
  local world = ctx.world
  local engine = input.Engine
  local info = ENGINES[engine]
  local storage_type = input.StorageType or "gp2"
  local size = input.AllocatedStorage
  local iops, throughput = storage_defaults(storage_type, size or 20, input.Iops, input.StorageThroughput)
  local id = input.DBInstanceIdentifier
  local az = input.AvailabilityZone or (region .. "a")
  local monitoring = input.MonitoringInterval or 0
  local pi = input.EnablePerformanceInsights or false
  return {
    DBInstanceIdentifier = id,
    DBInstanceClass = input.DBInstanceClass,
    Engine = engine,
    EngineVersion = input.EngineVersion or info.version,
    MasterUsername = input.MasterUsername,
    DBName = input.DBName,
    Endpoint = endpoint_for(world, id, region, engine),
    AllocatedStorage = size,
    MaxAllocatedStorage = input.MaxAllocatedStorage,
    StorageType = storage_type,
    Iops = iops,
    StorageThroughput = throughput,
    StorageEncrypted = input.StorageEncrypted or false,
    KmsKeyId = input.StorageEncrypted and (input.KmsKeyId or common.arn("kms", region, world.account,
      "key/" .. common.uuid(world))) or nil,
    MultiAZ = input.MultiAZ or false,
    AvailabilityZone = az,
    SecondaryAvailabilityZone = input.MultiAZ and (region .. "b") or nil,
    BackupRetentionPeriod = input.BackupRetentionPeriod or 1,
    PreferredBackupWindow = input.PreferredBackupWindow or "03:00-03:30",
    PreferredMaintenanceWindow = input.PreferredMaintenanceWindow or "sun:05:00-sun:05:30",
    DeletionProtection = input.DeletionProtection or false,
    PerformanceInsightsEnabled = pi,
    PerformanceInsightsRetentionPeriod = pi and (input.PerformanceInsightsRetentionPeriod or 7) or nil,
    PerformanceInsightsKMSKeyId = pi and common.arn("kms", region, world.account, "key/" .. common.uuid(world)) or nil,
    MonitoringInterval = monitoring,
    MonitoringRoleArn = monitoring > 0 and input.MonitoringRoleArn or nil,
    PubliclyAccessible = input.PubliclyAccessible or false,
    AutoMinorVersionUpgrade = input.AutoMinorVersionUpgrade ~= false,
    CopyTagsToSnapshot = input.CopyTagsToSnapshot or false,
    IAMDatabaseAuthenticationEnabled = input.EnableIAMDatabaseAuthentication or false,
    LicenseModel = engine:find("^postgres") and "postgresql-license" or "general-public-license",
    CACertificateIdentifier = input.CACertificateIdentifier or "rds-ca-rsa2048-g1",
    DBSubnetGroupName = input.DBSubnetGroupName or "default",
    VpcSecurityGroups = security_groups(input.VpcSecurityGroupIds),
    DBSecurityGroups = {},
    DBParameterGroups = { { DBParameterGroupName = input.DBParameterGroupName or ("default." .. info.family),
                            ParameterApplyStatus = "in-sync" } },
    OptionGroupMemberships = { { OptionGroupName = "default:" .. engine .. "-" .. info.family:match("%d.*$"),
                                 Status = "in-sync" } },
    EnabledCloudwatchLogsExports = input.EnableCloudwatchLogsExports,
    DbInstancePort = 0,
    DbiResourceId = "db-" .. common.random_string(world, 26, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
    DBInstanceArn = common.arn("rds", region, world.account, "db:" .. id),
    TagList = common.copy(input.Tags or {}),
    NetworkType = input.NetworkType or "IPV4",
    ReadReplicaDBInstanceIdentifiers = {},
    CustomerOwnedIpEnabled = false,
    BackupTarget = "region",
  }
end

-- Creates and stores an instance; PHASES is the list of timed phases.
local function create_instance(ctx, input, phases)
  local region = common.region(ctx)
  local inst = {
    fields = new_fields(ctx, input, region),
    pending = {},
    phases = phases,
    settled_status = "available",
    region = region,
    password = input.MasterUserPassword,
    real_endpoint = state(ctx.world).endpoint ~= nil,
  }
  if input.MasterUserPassword then secret.mark(input.MasterUserPassword) end
  state(ctx.world).instances[input.DBInstanceIdentifier] = inst
  return inst
end

local function validate_create(ctx, input)
  for _, field in ipairs({ "DBInstanceIdentifier", "DBInstanceClass", "Engine" }) do
    common.require_field(ctx, input, field)
  end
  local st = state(ctx.world)
  check_identifier(ctx, input.DBInstanceIdentifier)
  if st.instances[input.DBInstanceIdentifier] then
    ctx.fail("DBInstanceAlreadyExists", "DB instance already exists", 400)
  end
  if not ENGINES[input.Engine] then
    ctx.fail("InvalidParameterValue", ("Invalid DB engine: %s"):format(tostring(input.Engine)), 400)
  end
  check_class(ctx, input.DBInstanceClass)
  if not input.Engine:find("^aurora") then
    if input.AllocatedStorage == nil then
      ctx.fail("InvalidParameterValue", "The AllocatedStorage parameter is required for this engine.", 400)
    end
    if input.MasterUsername == nil then
      ctx.fail("InvalidParameterValue", "The parameter MasterUsername must be provided and must not be blank.", 400)
    end
    if input.MasterUserPassword == nil and not input.ManageMasterUserPassword then
      ctx.fail("InvalidParameterValue", "The parameter MasterUserPassword must be provided and must not be blank.",
        400)
    end
  end
  if input.MasterUserPassword and #input.MasterUserPassword < 8 then
    ctx.fail("InvalidParameterValue", "The parameter MasterUserPassword is not a valid password because it is "
      .. "shorter than 8 characters.", 400)
  end
  if input.DBSubnetGroupName and not st.subnet_groups[input.DBSubnetGroupName] then
    ctx.fail("DBSubnetGroupNotFoundFault", ("DBSubnetGroup %s not found."):format(input.DBSubnetGroupName), 404)
  end
  check_storage(ctx, input.Engine, input.StorageType or "gp2", input.AllocatedStorage, input.Iops,
    input.StorageThroughput)
end

--- Returns the durations (simulated seconds) of the phases.
local function durations(world)
  return state(world).durations
end

M.operations = {}

--- CreateDBInstance: validates, then starts creating → backing-up →
-- modifying → available.
function M.operations.CreateDBInstance(ctx, input)
  advance(ctx.world)
  validate_create(ctx, input)
  local d = durations(ctx.world)
  local t = ctx.world:now()
  local phases = {
    { status = "creating", ends = t + d.creating },
    { status = "backing-up", ends = t + d.creating + d.backing_up },
    { status = "modifying", ends = t + d.creating + d.backing_up + d.modifying },
  }
  local inst = create_instance(ctx, input, phases)
  return { DBInstance = instance_output(ctx.world, inst) }
end

--- DescribeDBInstances: one instance by identifier or ARN, or all of them
-- (MaxRecords/Marker pagination).
function M.operations.DescribeDBInstances(ctx, input)
  advance(ctx.world)
  local st = state(ctx.world)
  local id = input.DBInstanceIdentifier
  if id then
    id = id:match("^arn:aws:rds:[^:]*:%d+:db:(.+)$") or id
    return { DBInstances = { instance_output(ctx.world, find_instance(ctx, id)) } }
  end
  local all = {}
  for _, inst in ipairs(common.sorted_values(st.instances)) do all[#all + 1] = instance_output(ctx.world, inst) end
  local limit = input.MaxRecords or 100
  if limit < 20 or limit > 100 then
    ctx.fail("InvalidParameterValue", "Invalid value for MaxRecords. Must be between 20 and 100", 400)
  end
  local page, marker = common.page(all, input.Marker, limit)
  if not page then ctx.fail("InvalidParameterValue", "The marker is not valid.", 400) end
  return { DBInstances = page, Marker = marker }
end

-- ModifyDBInstance members that wait for ApplyImmediately or the
-- maintenance window; others (protection, backups, monitoring) apply at once.
local PENDING_MEMBERS = {
  DBInstanceClass = "DBInstanceClass", AllocatedStorage = "AllocatedStorage", StorageType = "StorageType",
  Iops = "Iops", StorageThroughput = "StorageThroughput", MultiAZ = "MultiAZ", EngineVersion = "EngineVersion",
  MasterUserPassword = "MasterUserPassword", CACertificateIdentifier = "CACertificateIdentifier",
  DBSubnetGroupName = "DBSubnetGroupName",
}
local IMMEDIATE_MEMBERS = {
  DeletionProtection = "DeletionProtection", BackupRetentionPeriod = "BackupRetentionPeriod",
  PreferredBackupWindow = "PreferredBackupWindow", PreferredMaintenanceWindow = "PreferredMaintenanceWindow",
  AutoMinorVersionUpgrade = "AutoMinorVersionUpgrade", CopyTagsToSnapshot = "CopyTagsToSnapshot",
  EnablePerformanceInsights = "PerformanceInsightsEnabled",
  PerformanceInsightsRetentionPeriod = "PerformanceInsightsRetentionPeriod",
  MonitoringInterval = "MonitoringInterval", MaxAllocatedStorage = "MaxAllocatedStorage",
  PubliclyAccessible = "PubliclyAccessible",
}

local function check_modify(ctx, inst, input)
  local f = inst.fields
  if input.DBInstanceClass then check_class(ctx, input.DBInstanceClass) end
  if input.AllocatedStorage and input.AllocatedStorage < f.AllocatedStorage then
    ctx.fail("InvalidParameterCombination", "Invalid storage size: you can't reduce the allocated storage.", 400)
  end
  if input.AllocatedStorage or input.StorageType or input.Iops or input.StorageThroughput then
    check_storage(ctx, f.Engine, input.StorageType or f.StorageType, input.AllocatedStorage or f.AllocatedStorage,
      input.Iops, input.StorageThroughput)
  end
  if input.DBSubnetGroupName and not state(ctx.world).subnet_groups[input.DBSubnetGroupName] then
    ctx.fail("DBSubnetGroupNotFoundFault", ("DBSubnetGroup %s not found."):format(input.DBSubnetGroupName), 404)
  end
end

-- Immediately applied members whose change RDS applies without leaving
-- `available`. A change to any other member of IMMEDIATE_MEMBERS, or to
-- the security groups, goes through a short `modifying` phase.
-- NOTE: this list is an estimate. AWS documents no list of the settings
-- that change without `modifying`.
local METADATA_MEMBERS = {
  DeletionProtection = true, CopyTagsToSnapshot = true, AutoMinorVersionUpgrade = true,
  PreferredBackupWindow = true, PreferredMaintenanceWindow = true, MaxAllocatedStorage = true,
}

-- Returns true when the security group ids IDS differ from the instance's.
local function security_groups_differ(inst, ids)
  local current, requested = {}, {}
  for _, group in ipairs(inst.fields.VpcSecurityGroups or {}) do current[#current + 1] = group.VpcSecurityGroupId end
  for _, id in ipairs(ids) do requested[#requested + 1] = id end
  table.sort(current)
  table.sort(requested)
  return table.concat(current, ",") ~= table.concat(requested, ",")
end

-- Applies the members of INPUT that RDS applies at once. Returns true when
-- one of them changed a setting that goes through `modifying`.
local function apply_immediate(inst, input)
  local f = inst.fields
  local needs_modifying = false
  for member, field in pairs(IMMEDIATE_MEMBERS) do
    if input[member] ~= nil and input[member] ~= f[field] then
      f[field] = input[member]
      if not METADATA_MEMBERS[member] then needs_modifying = true end
    end
  end
  if input.EnablePerformanceInsights == false then f.PerformanceInsightsRetentionPeriod = nil end
  if input.EnablePerformanceInsights and not f.PerformanceInsightsRetentionPeriod then
    f.PerformanceInsightsRetentionPeriod = 7
  end
  if input.VpcSecurityGroupIds and security_groups_differ(inst, input.VpcSecurityGroupIds) then
    f.VpcSecurityGroups = security_groups(input.VpcSecurityGroupIds)
    needs_modifying = true
  end
  return needs_modifying
end

-- Records in inst.pending the value VALUE requested for FIELD. A value
-- equal to the current one is no change, so it removes a change of that
-- field still pending from an earlier request. A password always changes.
local function set_pending(inst, field, value)
  if field ~= "MasterUserPassword" and value == inst.fields[field] then
    inst.pending[field] = nil
  else
    inst.pending[field] = value
  end
end

-- Records the pending members of INPUT, and the IOPS and throughput gp3
-- reports for the pending size when the request sets none.
local function record_pending(inst, input)
  for member, field in pairs(PENDING_MEMBERS) do
    if input[member] ~= nil then set_pending(inst, field, input[member]) end
  end
  local f, pending = inst.fields, inst.pending
  local storage_type = pending.StorageType or f.StorageType
  if storage_type == "gp3" and (pending.StorageType or pending.AllocatedStorage) then
    local iops, throughput = storage_defaults("gp3", pending.AllocatedStorage or f.AllocatedStorage)
    if input.Iops == nil then set_pending(inst, "Iops", iops) end
    if input.StorageThroughput == nil then set_pending(inst, "StorageThroughput", throughput) end
  end
end

--- ModifyDBInstance: settings such as DeletionProtection apply at once;
-- class, storage and the rest that differ from the current values become
-- PendingModifiedValues. With ApplyImmediately, the pending values
-- (earlier ones included) are applied after a `modifying` phase. A changed
-- setting applied at once (backups, monitoring, security groups) goes
-- through a short `modifying` phase. A request that changes nothing
-- leaves the instance as it was.
function M.operations.ModifyDBInstance(ctx, input)
  advance(ctx.world)
  common.require_field(ctx, input, "DBInstanceIdentifier")
  local inst = find_instance(ctx, input.DBInstanceIdentifier)
  local status = current_status(inst)
  if not SETTLED[status] then
    ctx.fail("InvalidDBInstanceState", ("Database instance is not in available state."), 400)
  end
  check_modify(ctx, inst, input)
  local needs_modifying = apply_immediate(inst, input)
  if input.MasterUserPassword then secret.mark(input.MasterUserPassword) end
  record_pending(inst, input)
  local now = ctx.world:now()
  local d = durations(ctx.world)
  if input.ApplyImmediately and next(inst.pending) then
    inst.phases = { { status = "modifying", ends = now + d.modifying, apply_pending = true } }
  elseif needs_modifying then
    inst.phases = { { status = "modifying", ends = now + d.modifying_settings } }
  end
  return { DBInstance = instance_output(ctx.world, inst) }
end

--- DeleteDBInstance: rejected while DeletionProtection is on or without a
-- final snapshot decision; otherwise `deleting`, then the instance is gone.
function M.operations.DeleteDBInstance(ctx, input)
  advance(ctx.world)
  common.require_field(ctx, input, "DBInstanceIdentifier")
  local inst = find_instance(ctx, input.DBInstanceIdentifier)
  if inst.fields.DeletionProtection then
    ctx.fail("InvalidParameterCombination",
      "Cannot delete protected DB Instance, please disable deletion protection and try again.", 400)
  end
  if not input.SkipFinalSnapshot and not input.FinalDBSnapshotIdentifier then
    ctx.fail("InvalidParameterCombination",
      "FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.", 400)
  end
  if input.SkipFinalSnapshot and input.FinalDBSnapshotIdentifier then
    ctx.fail("InvalidParameterCombination",
      "Cannot specify FinalDBSnapshotIdentifier when SkipFinalSnapshot is true.", 400)
  end
  local status = current_status(inst)
  if status == "deleting" then
    ctx.fail("InvalidDBInstanceState", ("Instance %s is already being deleted."):format(input.DBInstanceIdentifier),
      400)
  end
  if not SETTLED[status] and status ~= "creating" then
    ctx.fail("InvalidDBInstanceState", "Database instance is not in available state.", 400)
  end
  inst.phases = { { status = "deleting", ends = ctx.world:now() + durations(ctx.world).deleting } }
  return { DBInstance = instance_output(ctx.world, inst) }
end

--- DescribeDBSubnetGroups: the scenario's subnet groups.
function M.operations.DescribeDBSubnetGroups(ctx, input)
  local st = state(ctx.world)
  local region = common.region(ctx)
  if input.DBSubnetGroupName then
    local group = st.subnet_groups[input.DBSubnetGroupName]
    if not group then
      ctx.fail("DBSubnetGroupNotFoundFault", ("DBSubnetGroup %s not found."):format(input.DBSubnetGroupName), 404)
    end
    return { DBSubnetGroups = { subnet_group_output(group, region) } }
  end
  local all = {}
  for _, group in ipairs(common.sorted_values(st.subnet_groups)) do
    all[#all + 1] = subnet_group_output(group, region)
  end
  local page, marker = common.page(all, input.Marker, input.MaxRecords or 100)
  if not page then ctx.fail("InvalidParameterValue", "The marker is not valid.", 400) end
  return { DBSubnetGroups = page, Marker = marker }
end

-- Scenario instances may use snake_case names for the CreateDBInstance members.
local SNAKE = {
  identifier = "DBInstanceIdentifier", class = "DBInstanceClass", engine = "Engine",
  engine_version = "EngineVersion", allocated_storage = "AllocatedStorage", storage_type = "StorageType",
  iops = "Iops", storage_throughput = "StorageThroughput", master_username = "MasterUsername",
  master_password = "MasterUserPassword", db_name = "DBName", subnet_group = "DBSubnetGroupName",
  security_groups = "VpcSecurityGroupIds", multi_az = "MultiAZ", deletion_protection = "DeletionProtection",
  backup_retention_period = "BackupRetentionPeriod", storage_encrypted = "StorageEncrypted",
  performance_insights = "EnablePerformanceInsights",
  performance_insights_retention_period = "PerformanceInsightsRetentionPeriod",
}

-- Writes the CreateDBInstance member names in MESSAGE as the scenario's
-- snake_case keys, followed by the AWS name: "class (DBInstanceClass)".
local function scenario_names(message)
  local names = {}
  for snake, aws in pairs(SNAKE) do names[aws] = snake end
  return (message:gsub("%f[%w]([%u][%w]+)%f[^%w]", function(word)
    return names[word] and ("%s (%s)"):format(names[word], word) or word
  end))
end

-- Checks a scenario endpoint { address =, port = } at WHERE.
local function check_endpoint(where, ep)
  common.scenario_table(where, ep, { "address", "port", "Address", "Port" })
  common.scenario_value(where .. ".address", ep.address or ep.Address, "string")
  common.scenario_value(where .. ".port", ep.port or ep.Port, "port number (1-65535)", true)
end

local function scenario_instance(world, spec, where)
  local input = {}
  for k, v in pairs(spec) do
    if k ~= "endpoint" and k ~= "tags" then input[SNAKE[k] or k] = v end
  end
  if spec.tags then
    common.scenario_table(where .. ".tags", spec.tags)
    input.Tags = spec.tags[1] and spec.tags or common.tag_list(spec.tags)
  end
  input.MasterUserPassword = input.MasterUserPassword or "scenario-password"
  local label = ("%s (%s)"):format(where, tostring(input.DBInstanceIdentifier or "no identifier"))
  local valid, problem = pcall(validate.input, rds_model(), "CreateDBInstance", input)
  if not valid then
    common.scenario_fail(label, scenario_names(tostring(problem):gsub("^rds%.CreateDBInstance: ", "")))
  end
  if spec.endpoint ~= nil then check_endpoint(where .. ".endpoint", spec.endpoint) end
  local ctx = {
    world = world, region = world.region,
    fail = function(code, message) common.scenario_fail(label, ("%s: %s"):format(code, scenario_names(message))) end,
  }
  validate_create(ctx, input)
  local inst = create_instance(ctx, input, {})
  inst.fields.InstanceCreateTime = world:now() - 86400 * 30
  if spec.endpoint then
    inst.fields.Endpoint = { Address = spec.endpoint.address, Port = math.tointeger(spec.endpoint.port),
                             HostedZoneId = "Z29XKXDKYMONMX" }
  end
  -- Only a server the scenario hands over in `postgres` is changed when
  -- the scenario loads, never one that merely listens at the endpoint.
  if type(world.scenario.postgres) == "table" then create_initial_database(world, inst) end
end

--- Sets up the RDS state from the scenario's `rds` SECTION.
function M.init(world, section)
  section = section or {}
  local st = state(world)
  st.instances = {}
  st.subnet_groups = {}
  st.durations = {}
  common.scenario_table("rds", section, { "durations", "endpoint", "subnet_groups", "instances" })
  local given = common.scenario_table("rds.durations", section.durations,
    { "creating", "backing_up", "backing-up", "modifying", "modifying_settings", "deleting" })
  for key, value in pairs(given) do
    common.scenario_value("rds.durations." .. key, value, "non-negative number")
  end
  for k, v in pairs(DEFAULT_DURATIONS) do st.durations[k] = given[k] or given[k:gsub("_", "-")] or v end
  if section.endpoint ~= nil then check_endpoint("rds.endpoint", section.endpoint) end
  st.endpoint = section.endpoint
  local region = world.region or "us-east-1"
  for i, g in ipairs(common.scenario_list("rds.subnet_groups", section.subnet_groups)) do
    common.scenario_value(("rds.subnet_groups[%d].name"):format(i), g.name, "string")
    local group = common.copy(g)
    group.arn = common.arn("rds", region, world.account, "subgrp:" .. g.name)
    st.subnet_groups[g.name] = group
  end
  if not st.subnet_groups.default then
    st.subnet_groups.default = {
      name = "default", description = "default", vpc_id = "vpc-0a1b2c3d4e5f60718",
      subnets = { { id = "subnet-0aaaaaaaaaaaaaaa1", az = region .. "a" },
                  { id = "subnet-0aaaaaaaaaaaaaaa2", az = region .. "b" } },
      arn = common.arn("rds", region, world.account, "subgrp:default"),
    }
  end
  for i, spec in ipairs(common.scenario_list("rds.instances", section.instances)) do
    scenario_instance(world, spec, ("rds.instances[%d]"):format(i))
  end
end

--- Returns the current fields of instance ID (advanced to now), or nil;
-- for other simulated services and tests.
function M.instance(world, id)
  advance(world)
  local inst = state(world).instances[id]
  return inst and instance_output(world, inst)
end

return M
