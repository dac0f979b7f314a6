-- sim.services.secretsmanager: the simulated AWS Secrets Manager.
--
-- Each secret keeps its versions with staging labels: a new value takes
-- AWSCURRENT and the value it replaces becomes AWSPREVIOUS. Secret values
-- are marked secret so the request log masks them.
--
-- Scenario section (optional):
--   secretsmanager = { secrets = { { name = "app/db", value = "{...}", description = "..." } } }
local common = require("sim.services.common")
local secret = require("mnem.secret")

local M = {}

M.model = "secretsmanager"

local function state(world)
  return common.state(world, "secretsmanager")
end

local function not_found(ctx)
  ctx.fail("ResourceNotFoundException", "Secrets Manager can't find the specified secret.", 400)
end

-- Returns the secret named by ID (a name or an ARN), or nil.
local function lookup(world, id)
  local st = state(world)
  if type(id) ~= "string" then return nil end
  if st.secrets[id] then return st.secrets[id] end
  for _, s in pairs(st.secrets) do
    if s.arn == id or (id:find("^arn:") and s.arn:sub(1, #id) == id) then return s end
  end
end

local function find(ctx, id)
  local s = lookup(ctx.world, id)
  if not s then not_found(ctx) end
  if s.deleted then
    ctx.fail("InvalidRequestException", "You can't perform this operation on the secret because it was marked "
      .. "for deletion.", 400)
  end
  return s
end

-- Adds version VERSION_ID with the given value to secret S and moves the
-- AWSCURRENT label to it (the old current version becomes AWSPREVIOUS).
local function add_version(world, s, version_id, fields, stages)
  stages = stages or { "AWSCURRENT" }
  local moves_current = false
  for _, st in ipairs(stages) do if st == "AWSCURRENT" then moves_current = true end end
  if moves_current then
    for _, v in pairs(s.versions) do
      local kept = {}
      for _, label in ipairs(v.stages) do
        if label ~= "AWSPREVIOUS" and label ~= "AWSCURRENT" then kept[#kept + 1] = label end
      end
      local was_current = false
      for _, label in ipairs(v.stages) do if label == "AWSCURRENT" then was_current = true end end
      if was_current then kept[#kept + 1] = "AWSPREVIOUS" end
      v.stages = kept
    end
  end
  if fields.string then secret.mark(fields.string) end
  if fields.binary then secret.mark(fields.binary) end
  s.versions[version_id] = { id = version_id, string = fields.string, binary = fields.binary,
                             stages = common.copy(stages), created = world:now() }
  s.changed = world:now()
end

local function create(world, region, name, fields)
  local s = {
    name = name, description = fields.description, kms_key_id = fields.kms_key_id, tags = fields.tags or {},
    arn = common.arn("secretsmanager", region, world.account,
      "secret:" .. name .. "-" .. common.random_string(world, 6,
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")),
    versions = {}, created = world:now(), changed = world:now(),
  }
  state(world).secrets[name] = s
  return s
end

local function version_by_stage(s, stage)
  for _, v in pairs(s.versions) do
    for _, label in ipairs(v.stages) do if label == stage then return v end end
  end
end

M.operations = {}

--- CreateSecret: with an optional first value (SecretString or SecretBinary).
function M.operations.CreateSecret(ctx, input)
  local name = common.require_field(ctx, input, "Name", "InvalidParameterException")
  if not name:match("^[%w/_%+=%.@%-]+$") or #name > 512 then
    ctx.fail("ValidationException", "Invalid name. Must be a valid name containing alphanumeric characters, or "
      .. "any of the following: -/_+=.@!", 400)
  end
  if input.SecretString and input.SecretBinary then
    ctx.fail("InvalidParameterException", "You can't specify both a binary secret value and a string secret value "
      .. "in the same secret.", 400)
  end
  local existing = state(ctx.world).secrets[name]
  if existing then
    local message = existing.deleted and ("You can't create this secret because a secret with this name is already "
      .. "scheduled for deletion.") or ("The operation failed because the secret %s already exists."):format(name)
    ctx.fail(existing.deleted and "InvalidRequestException" or "ResourceExistsException", message, 400)
  end
  local s = create(ctx.world, common.region(ctx), name, { description = input.Description,
    kms_key_id = input.KmsKeyId, tags = common.copy(input.Tags) })
  local version_id
  if input.SecretString or input.SecretBinary then
    version_id = input.ClientRequestToken or common.uuid(ctx.world)
    add_version(ctx.world, s, version_id, { string = input.SecretString, binary = input.SecretBinary })
  end
  return { ARN = s.arn, Name = s.name, VersionId = version_id }
end

--- PutSecretValue: a new version, AWSCURRENT unless VersionStages says
-- otherwise; the same ClientRequestToken with the same value is a no-op.
function M.operations.PutSecretValue(ctx, input)
  local s = find(ctx, input.SecretId)
  if not input.SecretString and not input.SecretBinary then
    ctx.fail("InvalidRequestException", "You must provide either SecretString or SecretBinary.", 400)
  end
  local version_id = input.ClientRequestToken or common.uuid(ctx.world)
  local existing = s.versions[version_id]
  if existing then
    if existing.string ~= input.SecretString or existing.binary ~= input.SecretBinary then
      ctx.fail("ResourceExistsException", "You can't modify an existing version, you can only create a new version.",
        400)
    end
  else
    add_version(ctx.world, s, version_id, { string = input.SecretString, binary = input.SecretBinary },
      input.VersionStages)
  end
  return { ARN = s.arn, Name = s.name, VersionId = version_id,
           VersionStages = common.copy(s.versions[version_id].stages) }
end

--- GetSecretValue: by VersionId or VersionStage (default AWSCURRENT).
function M.operations.GetSecretValue(ctx, input)
  local s = find(ctx, input.SecretId)
  local v
  if input.VersionId then
    v = s.versions[input.VersionId]
    if v and input.VersionStage then
      local has = false
      for _, label in ipairs(v.stages) do if label == input.VersionStage then has = true end end
      if not has then
        ctx.fail("InvalidRequestException", "You provided a VersionStage that is not associated to the provided "
          .. "VersionId.", 400)
      end
    end
    if not v then
      ctx.fail("ResourceNotFoundException", ("Secrets Manager can't find the specified secret value for VersionId: %s")
        :format(input.VersionId), 400)
    end
  else
    local stage = input.VersionStage or "AWSCURRENT"
    v = version_by_stage(s, stage)
    if not v then
      ctx.fail("ResourceNotFoundException", ("Secrets Manager can't find the specified secret value for staging "
        .. "label: %s"):format(stage), 400)
    end
  end
  return { ARN = s.arn, Name = s.name, VersionId = v.id, SecretString = v.string, SecretBinary = v.binary,
           VersionStages = common.copy(v.stages), CreatedDate = v.created }
end

--- DescribeSecret: metadata and VersionIdsToStages, never the value.
function M.operations.DescribeSecret(ctx, input)
  local s = lookup(ctx.world, input.SecretId)
  if not s then not_found(ctx) end
  local stages = {}
  for id, v in pairs(s.versions) do
    if #v.stages > 0 then stages[id] = common.copy(v.stages) end
  end
  return { ARN = s.arn, Name = s.name, Description = s.description, KmsKeyId = s.kms_key_id,
           LastChangedDate = s.changed, CreatedDate = s.created, Tags = common.copy(s.tags),
           VersionIdsToStages = stages, DeletedDate = s.deleted, RotationEnabled = false }
end

--- ListSecrets: names and metadata, paginated (MaxResults at most 100).
function M.operations.ListSecrets(ctx, input)
  local out = {}
  for _, s in ipairs(common.sorted_values(state(ctx.world).secrets)) do
    if not s.deleted or input.IncludePlannedDeletion then
      out[#out + 1] = { ARN = s.arn, Name = s.name, Description = s.description, LastChangedDate = s.changed,
                        CreatedDate = s.created, Tags = common.copy(s.tags), DeletedDate = s.deleted }
    end
  end
  local page, token = common.page(out, input.NextToken, input.MaxResults or 100)
  if not page then ctx.fail("InvalidNextTokenException", "The nextToken is not valid.", 400) end
  return { SecretList = page, NextToken = token }
end

--- DeleteSecret: schedules deletion (7 to 30 days, default 30), or removes
-- at once with ForceDeleteWithoutRecovery.
function M.operations.DeleteSecret(ctx, input)
  local s = find(ctx, input.SecretId)
  local now = ctx.world:now()
  if input.ForceDeleteWithoutRecovery then
    if input.RecoveryWindowInDays then
      ctx.fail("InvalidParameterException", "You can't use ForceDeleteWithoutRecovery in conjunction with "
        .. "RecoveryWindowInDays.", 400)
    end
    state(ctx.world).secrets[s.name] = nil
    return { ARN = s.arn, Name = s.name, DeletionDate = now }
  end
  local days = input.RecoveryWindowInDays or 30
  if days < 7 or days > 30 then
    ctx.fail("InvalidParameterException", "The RecoveryWindowInDays value must be between 7 and 30 days "
      .. "(inclusive).", 400)
  end
  s.deleted = now
  return { ARN = s.arn, Name = s.name, DeletionDate = now + days * 86400 }
end

--- Sets up secrets from the scenario's `secretsmanager` SECTION.
function M.init(world, section)
  state(world).secrets = {}
  common.scenario_table("secretsmanager", section, { "secrets" })
  for i, spec in ipairs(common.scenario_list("secretsmanager.secrets", (section or {}).secrets)) do
    local where = ("secretsmanager.secrets[%d]"):format(i)
    common.scenario_table(where, spec, { "name", "value", "description" })
    common.scenario_value(where .. ".name", spec.name, "string")
    common.scenario_value(where .. ".value", spec.value, "string")
    common.scenario_value(where .. ".description", spec.description, "string", true)
    local s = create(world, world.region or "us-east-1", spec.name, { description = spec.description })
    add_version(world, s, common.uuid(world), { string = spec.value })
  end
end

return M
